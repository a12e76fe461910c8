-- studies: the evidence for each rsid, one distinct row per study. From the rsids table,
-- one row per PubMed id its pmids text cites ("[PMID: 18193044]; [PMID 30944368];": the
-- consumer links pmid to PubMed, so it holds one id), with the rsid's population, p-value
-- and conclusion; an rsid citing none keeps one row without a pmid. From the studies table
-- (GWAS hits), one row per (snp, pubmed_id), its sample description as study_design.
-- Parameters: $module. Reads: rsids, studies.
WITH listed AS (
    SELECT
        lower(trim(rsid)) AS rsid,
        regexp_extract_all(coalesce(pmids, ''), '[0-9]{5,9}') AS pmids,
        nullif(trim(regexp_replace(population, '\s+', ' ', 'g')), '') AS population,
        nullif(trim(p_value), '') AS p_value,
        nullif(trim(rsid_conclusion), '') AS conclusion
    FROM rsids
),

cited AS (
    SELECT
        rsid,
        unnest(CASE WHEN len(pmids) = 0 THEN [CAST(NULL AS VARCHAR)] ELSE pmids END) AS pmid,
        population, p_value, conclusion,
        CAST(NULL AS VARCHAR) AS study_design
    FROM listed
),

gwas AS (
    SELECT
        lower(trim(snp)) AS rsid,
        nullif(trim(pubmed_id), '') AS pmid,
        CAST(NULL AS VARCHAR) AS population,
        nullif(trim(p_value), '') AS p_value,
        CAST(NULL AS VARCHAR) AS conclusion,
        nullif(trim(populations), '') AS study_design
    FROM studies
),

unioned AS (
    SELECT * FROM cited
    UNION ALL BY NAME
    SELECT * FROM gwas
),

final AS (
    SELECT DISTINCT
        rsid,
        CAST($module AS VARCHAR) AS module,
        pmid,
        population,
        p_value,
        conclusion,
        study_design
    FROM unioned
    WHERE regexp_full_match(rsid, 'rs[0-9]+')
)

SELECT * FROM final ORDER BY rsid, pmid, population, p_value, conclusion, study_design

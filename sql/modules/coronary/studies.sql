-- studies: the evidence for each rsid, one distinct row per PubMed id its PMID text cites
-- ("PMID 17478681; PMID: 30278588": the consumer links pmid to PubMed, so it holds one
-- id), with the row's population, p-values (as written: "[PMID 29263402]: 1 x 10-7; ..."),
-- conclusion and GWAS study design; a row citing none keeps one row without a pmid.
-- Parameters: $module. Reads: coronary_disease.
WITH source AS (
    SELECT
        lower(trim(rsID)) AS rsid,
        regexp_extract_all(coalesce(PMID, ''), '[0-9]{5,9}') AS pmids,
        nullif(trim(Population), '') AS population,
        nullif(trim(P_value), '') AS p_value,
        nullif(trim(Conclusion), '') AS conclusion,
        nullif(trim(GWAS_study_design), '') AS study_design
    FROM coronary_disease
),

cited AS (
    SELECT
        rsid,
        unnest(CASE WHEN len(pmids) = 0 THEN [CAST(NULL AS VARCHAR)] ELSE pmids END) AS pmid,
        population, p_value, conclusion, study_design
    FROM source
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
    FROM cited
    WHERE regexp_full_match(rsid, 'rs[0-9]+')
)

SELECT * FROM final ORDER BY rsid, pmid, population, p_value, conclusion, study_design

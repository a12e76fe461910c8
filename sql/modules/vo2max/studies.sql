-- studies: the evidence for each rsid, one distinct row per PubMed id its pmids text
-- cites ("[PMID 21967077]; [PMID 2783984]": the consumer links pmid to PubMed, so it
-- holds one id), with the rsid's population, p-value and conclusion; an rsid citing none
-- keeps one row without a pmid.
-- Parameters: $module. Reads: rsid.
WITH listed AS (
    SELECT
        lower(trim(rsid)) AS rsid,
        regexp_extract_all(coalesce(pmids, ''), '[0-9]{5,9}') AS pmids,
        nullif(trim(regexp_replace(population, '\s+', ' ', 'g')), '') AS population,
        nullif(trim(p_value), '') AS p_value,
        nullif(trim(rsid_conclusion), '') AS conclusion
    FROM rsid
),

cited AS (
    SELECT
        rsid,
        unnest(CASE WHEN len(pmids) = 0 THEN [CAST(NULL AS VARCHAR)] ELSE pmids END) AS pmid,
        population, p_value, conclusion
    FROM listed
),

final AS (
    SELECT DISTINCT
        rsid,
        CAST($module AS VARCHAR) AS module,
        pmid,
        population,
        p_value,
        conclusion,
        CAST(NULL AS VARCHAR) AS study_design
    FROM cited
    WHERE regexp_full_match(rsid, 'rs[0-9]+')
)

SELECT * FROM final ORDER BY rsid, pmid, population, p_value, conclusion

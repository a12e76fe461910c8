-- studies: one distinct row per (rsid, reference). A reference is a URL; when it is a
-- PubMed link, pmid is its id (the consumer links pmid to PubMed), else NULL (dbSNP pages).
-- The curation states no population, p-value or study design.
-- Parameters: $module. Reads: superhuman.
WITH source AS (
    SELECT lower(trim(rsid)) AS rsid, trim("references") AS reference
    FROM superhuman
),

cleaned AS (
    SELECT rsid, nullif(regexp_extract(reference, 'pubmed\.ncbi\.nlm\.nih\.gov/([0-9]+)', 1), '') AS pmid
    FROM source
    WHERE regexp_full_match(rsid, 'rs[0-9]+')
),

final AS (
    SELECT DISTINCT
        rsid,
        CAST($module AS VARCHAR) AS module,
        pmid,
        CAST(NULL AS VARCHAR) AS population,
        CAST(NULL AS VARCHAR) AS p_value,
        CAST(NULL AS VARCHAR) AS conclusion,
        CAST(NULL AS VARCHAR) AS study_design
    FROM cleaned
)

SELECT * FROM final ORDER BY rsid, pmid

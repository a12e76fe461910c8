-- annotations: what each rsid of the curation is associated with: distinct rows of (rsid,
-- module, gene, phenotype, category), the superability as category; rsids only.
-- Parameters: $module, $phenotype. Reads: superhuman.
WITH source AS (
    SELECT lower(trim(rsid)) AS rsid, nullif(trim(gene), '') AS gene, nullif(trim(superability), '') AS superability
    FROM superhuman
),

final AS (
    SELECT DISTINCT
        rsid,
        CAST($module AS VARCHAR) AS module,
        gene,
        CAST($phenotype AS VARCHAR) AS phenotype,
        superability AS category
    FROM source
    WHERE regexp_full_match(rsid, 'rs[0-9]+')
)

SELECT * FROM final ORDER BY rsid, gene, category

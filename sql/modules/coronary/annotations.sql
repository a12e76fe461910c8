-- annotations: what each rsid of the curation is associated with. Distinct rows of (rsid,
-- module, gene, phenotype, category), rsids only.
-- Parameters: $module, $phenotype, $category. Reads: coronary_disease.
WITH source AS (
    SELECT lower(trim(rsID)) AS rsid, nullif(trim(Gene), '') AS gene
    FROM coronary_disease
),

final AS (
    SELECT DISTINCT
        rsid,
        CAST($module AS VARCHAR) AS module,
        gene,
        CAST($phenotype AS VARCHAR) AS phenotype,
        CAST($category AS VARCHAR) AS category
    FROM source
    WHERE regexp_full_match(rsid, 'rs[0-9]+')
)

SELECT * FROM final ORDER BY rsid, gene

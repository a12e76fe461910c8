-- annotations: what each rsid is associated with: distinct rows of (rsid, module, gene,
-- phenotype, category), PharmGKB's phenotype category as phenotype and the drug(s) as
-- category (the table names no gene); rsids only (every row, including those whose
-- genotype cannot be read from the sentence).
-- Parameters: $module. Reads: annotation_tab.
WITH source AS (
    SELECT lower(trim("Variant/Haplotypes")) AS rsid, nullif(trim("Phenotype Category"), '') AS phenotype,
           nullif(trim("Drug(s)"), '') AS drugs
    FROM annotation_tab
),

final AS (
    SELECT DISTINCT
        rsid,
        CAST($module AS VARCHAR) AS module,
        CAST(NULL AS VARCHAR) AS gene,
        phenotype,
        drugs AS category
    FROM source
    WHERE regexp_full_match(rsid, 'rs[0-9]+')
)

SELECT * FROM final ORDER BY rsid, phenotype, category

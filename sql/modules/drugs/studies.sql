-- studies: one distinct row per (rsid, sentence, p-value): the annotation's sentence as
-- conclusion and its P Value as written ("< 0.05"); the table names no PubMed id,
-- population or study design. Every row, including those whose genotype cannot be read.
-- Parameters: $module. Reads: annotation_tab.
WITH source AS (
    SELECT lower(trim("Variant/Haplotypes")) AS rsid, nullif(trim("P Value"), '') AS p_value,
           nullif(trim("Sentence"), '') AS sentence
    FROM annotation_tab
),

final AS (
    SELECT DISTINCT
        rsid,
        CAST($module AS VARCHAR) AS module,
        CAST(NULL AS VARCHAR) AS pmid,
        CAST(NULL AS VARCHAR) AS population,
        p_value,
        sentence AS conclusion,
        CAST(NULL AS VARCHAR) AS study_design
    FROM source
    WHERE regexp_full_match(rsid, 'rs[0-9]+')
)

SELECT * FROM final ORDER BY rsid, conclusion, p_value

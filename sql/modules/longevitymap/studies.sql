-- studies: the published evidence for each rsid, one distinct row per study record.
-- pmid is LongevityMap's quickpubmed; LongevityMap gives no p-value, so p_value is a
-- NULL text. Rsids only.
-- Parameters: $module. Reads: variant, population.
WITH source AS (
    SELECT v.identifier, v.quickpubmed, v.conclusions, v.study_design, p.name AS population
    FROM variant AS v
    LEFT JOIN population AS p ON p.id = v.population_id
),

cleaned AS (
    SELECT
        lower(trim(identifier)) AS rsid,
        nullif(trim(quickpubmed), '') AS pmid,
        population,
        conclusions AS conclusion,
        study_design
    FROM source
),

final AS (
    SELECT DISTINCT
        rsid,
        CAST($module AS VARCHAR) AS module,
        pmid,
        population,
        CAST(NULL AS VARCHAR) AS p_value,
        conclusion,
        study_design
    FROM cleaned
    WHERE regexp_full_match(rsid, 'rs[0-9]+')
)

SELECT * FROM final ORDER BY rsid, pmid, population, conclusion, study_design

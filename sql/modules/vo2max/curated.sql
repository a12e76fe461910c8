-- curated: the rows of genotype_weights as claims (sql/claims.sql checks them): each row
-- gives a genotype (e.g. "GA", in any order) and its weight (text in the source: a value
-- that is not a number is reported, not lost); state comes from the weight's sign.
-- Reads: genotype_weights (registered by scripts/modules.py from the SQLite; _row is its rowid).
WITH source AS (
    SELECT _row, rsID, genotype, weight, genotype_specific_conclusion
    FROM genotype_weights
),

cleaned AS (
    SELECT
        _row AS curated_id,
        _row AS source_row,
        rsID AS rsid_raw,
        genotype AS allele_raw,
        lower(trim(rsID)) AS rsid,
        upper(replace(replace(trim(genotype), '/', ''), ' ', '')) AS genotype,
        weight AS weight_raw,
        nullif(trim(genotype_specific_conclusion), '') AS conclusion
    FROM source
),

final AS (
    SELECT
        curated_id, source_row, rsid_raw, allele_raw, rsid,
        'genotype' AS mode,
        CASE WHEN length(genotype) = 2 THEN [substr(genotype, 1, 1), substr(genotype, 2, 1)]
             ELSE [genotype] END AS bases,
        weight_raw,
        CAST(NULL AS VARCHAR) AS state,
        CAST(NULL AS VARCHAR) AS priority,
        conclusion,
        CAST(NULL AS VARCHAR) AS finding,
        CAST(NULL AS VARCHAR) AS problem,
        CAST(NULL AS VARCHAR) AS problem_detail
    FROM cleaned
)

SELECT * FROM final ORDER BY curated_id

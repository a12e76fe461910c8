-- curated: the rows of superhuman as claims (sql/claims.sql checks them). A row that gives
-- a genotype ("CC") is that genotype. The others give only ref_allele, alt_allele and a
-- zygosity, and the genotypes are derived: hom -> [alt, alt]; het -> [ref, alt]; both ->
-- both claims. Alleles are trimmed (" T" is T); a deletion ("-") or a missing allele makes
-- a malformed genotype, reported. No weight: state is protective for a superability
-- (every row has one), else risk for adverse effects only, and the conclusion says both.
-- Reads: superhuman (registered by scripts/modules.py from the SQLite; _row is its rowid).
WITH source AS (
    SELECT _row, rsid, ref_allele, alt_allele, genotype, zygosity, superability, adverse_effects
    FROM superhuman
),

cleaned AS (
    SELECT
        _row AS source_row,
        rsid AS rsid_raw,
        lower(trim(rsid)) AS rsid,
        upper(trim(ref_allele)) AS ref,
        upper(trim(alt_allele)) AS alt,
        nullif(upper(replace(trim(genotype), '/', '')), '') AS genotype,
        lower(trim(zygosity)) AS zygosity,
        nullif(trim(superability), '') AS superability,
        nullif(trim(adverse_effects), '') AS adverse
    FROM source
),

derived AS (
    SELECT *, 1 AS k, 'genotype' AS given,
           [substr(genotype, 1, 1), substr(genotype, 2, 1)] AS bases, genotype AS allele_raw
    FROM cleaned WHERE genotype IS NOT NULL
    UNION ALL BY NAME
    SELECT *, 1 AS k, 'hom' AS given,
           [alt, alt] AS bases, format('{}/{}', coalesce(alt, 'NULL'), coalesce(alt, 'NULL')) AS allele_raw
    FROM cleaned WHERE genotype IS NULL AND zygosity IN ('hom', 'both')
    UNION ALL BY NAME
    SELECT *, 2 AS k, 'het' AS given,
           [ref, alt] AS bases, format('{}/{}', coalesce(ref, 'NULL'), coalesce(alt, 'NULL')) AS allele_raw
    FROM cleaned WHERE genotype IS NULL AND zygosity IN ('het', 'both')
    UNION ALL BY NAME
    SELECT *, 1 AS k, 'none' AS given, CAST(NULL AS VARCHAR[]) AS bases, zygosity AS allele_raw
    FROM cleaned WHERE genotype IS NULL AND (zygosity IS NULL OR zygosity NOT IN ('hom', 'het', 'both'))
),

final AS (
    SELECT
        row_number() OVER (ORDER BY source_row, k) AS curated_id,
        source_row, rsid_raw, allele_raw, rsid,
        'genotype' AS mode,
        bases,
        CAST(NULL AS VARCHAR) AS weight_raw,
        CASE WHEN superability IS NOT NULL THEN 'protective'
             WHEN adverse IS NOT NULL THEN 'risk'
             ELSE 'neutral' END AS state,
        CAST(NULL AS VARCHAR) AS priority,
        CASE WHEN superability IS NOT NULL AND adverse IS NOT NULL THEN superability || ' | Adverse: ' || adverse
             WHEN superability IS NOT NULL THEN superability
             WHEN adverse IS NOT NULL THEN 'Adverse: ' || adverse
        END AS conclusion,
        CAST(NULL AS VARCHAR) AS finding,
        CASE WHEN given = 'none' THEN 'unknown_zygosity' END AS problem,
        CASE WHEN given = 'none'
             THEN format('zygosity {} is not hom, het or both, and the row gives no genotype', coalesce(zygosity, 'NULL'))
        END AS problem_detail
    FROM derived
)

SELECT * FROM final ORDER BY curated_id

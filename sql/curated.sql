-- curated: the rows of LongevityMap's allele_weights, cleaned and checked.
-- One row per curated row. `problem` names why the row cannot be resolved or
-- published before looking at Ensembl (NULL when it can); `bases` are the curated
-- bases: one for state alt/ref, the two bases of the genotype for state spec.
-- Reads: allele_weights (registered by scripts/longevitymap.py from the SQLite).
WITH source AS (
    SELECT id, allele, state, zygosity, weight, rsid, priority
    FROM allele_weights
),

cleaned AS (
    SELECT
        id                       AS curated_id,
        rsid                     AS rsid_raw,
        allele                   AS allele_raw,
        lower(trim(rsid))        AS rsid,
        upper(trim(allele))      AS allele,
        lower(trim(state))       AS allele_state,
        lower(trim(zygosity))    AS zygosity,
        CAST(weight AS DOUBLE)   AS weight,
        trim(priority)           AS priority
    FROM source
),

checked AS (
    SELECT
        *,
        CASE
            WHEN rsid IS NULL OR NOT regexp_full_match(rsid, 'rs[0-9]+')
                THEN 'not_an_rsid'
            WHEN allele_state IS NULL OR allele_state NOT IN ('alt', 'ref', 'spec')
                THEN 'unknown_state'
            WHEN zygosity IS NULL OR zygosity NOT IN ('het', 'hom')
                THEN 'unknown_zygosity'
            WHEN allele_state IN ('alt', 'ref') AND NOT regexp_full_match(allele, '[ACGT]')
                THEN 'malformed_allele'
            WHEN allele_state = 'spec' AND NOT regexp_full_match(allele, '[ACGT]{2}')
                THEN 'malformed_allele'
            WHEN allele_state = 'spec'
                 AND (zygosity = 'het') = (substr(allele, 1, 1) = substr(allele, 2, 1))
                THEN 'malformed_allele'
            WHEN weight IS NULL
                THEN 'missing_weight'
        END AS problem
    FROM cleaned
),

final AS (
    SELECT
        curated_id, rsid_raw, allele_raw, rsid, allele, allele_state, zygosity, weight, priority,
        CASE WHEN problem IS NULL THEN
            CASE WHEN allele_state = 'spec'
                 THEN [substr(allele, 1, 1), substr(allele, 2, 1)]
                 ELSE [allele] END
        END AS bases,
        problem,
        CASE problem
            WHEN 'not_an_rsid' THEN format('identifier {} is not an rsid', coalesce(rsid_raw, 'NULL'))
            WHEN 'unknown_state' THEN format('state {} is not alt, ref or spec', coalesce(allele_state, 'NULL'))
            WHEN 'unknown_zygosity' THEN format('zygosity {} is not het or hom', coalesce(zygosity, 'NULL'))
            WHEN 'malformed_allele' THEN
                CASE WHEN allele_state = 'spec' AND regexp_full_match(allele, '[ACGT]{2}')
                     THEN format('spec allele {} does not fit zygosity {}', allele, zygosity)
                     WHEN allele_state = 'spec'
                     THEN format('spec allele {} is not two bases of A, C, G, T', coalesce(allele_raw, 'NULL'))
                     ELSE format('allele {} is not one base of A, C, G, T', coalesce(allele_raw, 'NULL'))
                END
            WHEN 'missing_weight' THEN 'the row has no weight'
        END AS problem_detail
    FROM checked
)

SELECT * FROM final ORDER BY curated_id

-- claims: the module's curated claims (its own curated.sql), checked the same way for every
-- module. One row per claim: a genotype, or an allele with how it pairs, that the curation
-- gives for an rsid. `problem` names why the claim cannot be resolved or published before
-- looking at Ensembl (NULL when it can): the module's own reason comes after the rsid check,
-- then the alleles, then the weight.
-- Modes: genotype (bases = the two alleles), hom (bases = [a]: a/a), het ([a]: a with each
-- other allele of the Ensembl record), carrier ([a]: a/a and a with each other allele).
-- Weights: a module with numeric weights ($weighted) must give one that reads as a number; a
-- weight that is present but not a number is a problem, never a silent NULL. A module without
-- them (superhuman, drugs) publishes NULL weights and states its own `state`.
-- Parameters: $weighted. Reads: curated (sql/modules/<module>/curated.sql).
WITH source AS (
    SELECT
        curated_id, source_row, rsid_raw, allele_raw, rsid, mode, bases, weight_raw,
        state AS state_given, priority, conclusion, finding, problem AS module_problem,
        problem_detail AS module_detail
    FROM curated
),

cleaned AS (
    SELECT
        * EXCLUDE (bases, weight_raw),
        list_transform(bases, lambda b: upper(trim(b))) AS bases,
        nullif(trim(weight_raw), '') AS weight_text,
        CASE WHEN $weighted THEN TRY_CAST(trim(weight_raw) AS DOUBLE) END AS weight
    FROM source
),

checked AS (
    SELECT
        *,
        CASE
            WHEN rsid IS NULL OR NOT regexp_full_match(rsid, 'rs[0-9]+')
                THEN 'not_an_rsid'
            WHEN module_problem IS NOT NULL
                THEN module_problem
            WHEN mode IS NULL OR mode NOT IN ('genotype', 'hom', 'het', 'carrier')
                THEN 'unknown_zygosity'
            WHEN bases IS NULL OR len(bases) <> CASE WHEN mode = 'genotype' THEN 2 ELSE 1 END
                 OR NOT list_bool_and(list_transform(bases, lambda b: coalesce(regexp_full_match(b, '[ACGT]'), false)))
                THEN 'malformed_allele'
            WHEN $weighted AND weight_text IS NULL
                THEN 'missing_weight'
            WHEN $weighted AND weight IS NULL
                THEN 'weight_not_a_number'
        END AS problem
    FROM cleaned
),

final AS (
    SELECT
        curated_id, source_row, rsid_raw, allele_raw, rsid, mode, bases, weight_text, weight,
        state_given, priority, conclusion, finding, problem,
        CASE
            WHEN problem = 'not_an_rsid' THEN format('identifier {} is not an rsid',
                                                     CASE WHEN rsid_raw IS NULL THEN 'NULL' WHEN trim(rsid_raw) = '' THEN '(empty)' ELSE rsid_raw END)
            WHEN problem = module_problem THEN module_detail
            WHEN problem = 'unknown_zygosity' THEN format('zygosity {} is not one the module knows', coalesce(mode, 'NULL'))
            WHEN problem = 'malformed_allele' THEN
                CASE WHEN mode = 'genotype'
                     THEN format('genotype {} is not two bases of A, C, G, T', coalesce(allele_raw, 'NULL'))
                     ELSE format('allele {} is not one base of A, C, G, T', coalesce(allele_raw, 'NULL'))
                END
            WHEN problem = 'missing_weight' THEN 'the row has no weight'
            WHEN problem = 'weight_not_a_number' THEN format('weight {} is not a number', weight_text)
        END AS problem_detail
    FROM checked
)

SELECT * FROM final ORDER BY curated_id

-- curated: the PharmGKB annotations as claims (sql/claims.sql checks them), read from each
-- row's Sentence, never invented:
--   "Genotype CC is associated with ..."      -> the genotype C/C
--   "Genotypes CT + TT are associated ..."    -> one claim per genotype named (C/T, T/T)
--   "Allele A is associated with ..."         -> carrier of A: A/A and A with each other
--                                                allele of the Ensembl record (ref and alts)
-- A named genotype or allele that is not made of single bases (del, a repeat such as
-- (CA)16, an indel) is reported as indel_or_repeat; a sentence that names neither as
-- no_genotype_in_sentence; a "not stated" significance as significance_not_stated. Such
-- rows stay in annotations and studies. state: significant (Significance yes) or
-- not_significant (no). The finding is the drug and sentence: two annotations of one
-- genotype are two weights rows; the same annotation listed twice merges.
-- Reads: annotation_tab (registered by scripts/modules.py from the TSV; _row is its line).
WITH source AS (
    SELECT _row, "Variant/Haplotypes" AS variant, "Drug(s)" AS drugs, "Significance" AS significance,
           "Sentence" AS sentence
    FROM annotation_tab
),

cleaned AS (
    SELECT
        _row AS source_row,
        variant AS rsid_raw,
        lower(trim(variant)) AS rsid,
        nullif(trim(drugs), '') AS drugs,
        lower(trim(significance)) AS significance,
        trim(sentence) AS sentence
    FROM source
),

parsed AS (
    SELECT
        *,
        nullif(regexp_extract(sentence, '^Genotypes? (.+?) (is|are) ', 1), '') AS genotypes_named,
        nullif(regexp_extract(sentence, '^Alleles? (\S+) (is|are) ', 1), '') AS allele_named
    FROM cleaned
),

named AS (
    SELECT
        *,
        CASE WHEN genotypes_named IS NOT NULL THEN 'genotype'
             WHEN allele_named IS NOT NULL THEN 'carrier'
        END AS mode,
        CASE WHEN genotypes_named IS NOT NULL
             THEN list_transform(string_split(genotypes_named, '+'), lambda g: trim(g))
             ELSE [allele_named] END AS items
    FROM parsed
),

claimed AS (
    SELECT * EXCLUDE (items), unnest(items) AS item, generate_subscripts(items, 1) AS k
    FROM named
),

checked AS (
    SELECT
        *,
        CASE
            WHEN mode IS NULL THEN 'no_genotype_in_sentence'
            WHEN mode = 'genotype' AND NOT regexp_full_match(item, '[ACGT]/?[ACGT]') THEN 'indel_or_repeat'
            WHEN mode = 'carrier' AND NOT regexp_full_match(item, '[ACGT]') THEN 'indel_or_repeat'
            WHEN significance NOT IN ('yes', 'no') OR significance IS NULL THEN 'significance_not_stated'
        END AS problem
    FROM claimed
),

final AS (
    SELECT
        row_number() OVER (ORDER BY source_row, k) AS curated_id,
        source_row, rsid_raw,
        coalesce(item, sentence) AS allele_raw,
        rsid,
        coalesce(mode, 'genotype') AS mode,
        CASE WHEN mode = 'genotype' THEN [substr(replace(item, '/', ''), 1, 1), substr(replace(item, '/', ''), 2, 1)]
             ELSE [item] END AS bases,
        CAST(NULL AS VARCHAR) AS weight_raw,
        CASE significance WHEN 'yes' THEN 'significant' WHEN 'no' THEN 'not_significant' END AS state,
        CAST(NULL AS VARCHAR) AS priority,
        coalesce(drugs || ': ', '') || sentence AS conclusion,
        coalesce(drugs || ': ', '') || sentence AS finding,
        problem,
        CASE problem
            WHEN 'no_genotype_in_sentence' THEN 'the sentence names no genotype or allele'
            WHEN 'indel_or_repeat' THEN format('{} {} is an indel, a repeat or a haplotype, not single bases',
                                               CASE WHEN mode = 'genotype' THEN 'genotype' ELSE 'allele' END, item)
            WHEN 'significance_not_stated' THEN format('significance is "{}", not yes or no', coalesce(significance, 'NULL'))
        END AS problem_detail
    FROM checked
)

SELECT * FROM final ORDER BY curated_id

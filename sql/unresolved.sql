-- unresolved: every curated row that did not become (or merge into) a weights row,
-- with the reason. A row that resolved at one Ensembl record of its rsid counts as
-- resolved even if another record of the rsid did not fit.
-- Reasons: not_an_rsid, unknown_state, unknown_zygosity, malformed_allele,
-- missing_weight (from curated); rsid_not_in_ensembl, allele_matches_neither_strand,
-- no_allele_to_pair_with (from candidates); conflicting_weights (see conflicts.tsv).
-- Every curated row is either here or published (it gave a candidate row that is in
-- weights or merged into one), never both.
-- Reads: curated, candidates.
WITH outcomes AS (
    SELECT
        curated_id,
        bool_or(genotype IS NOT NULL AND NOT conflict) AS published,
        bool_or(conflict) AS conflicted,
        min(problem) AS problem,
        string_agg(DISTINCT problem_detail, '; ' ORDER BY problem_detail) AS problem_detail,
        string_agg(DISTINCT CASE WHEN conflict THEN
                       format('{} at {}:{}', array_to_string(genotype, '/'), chrom, start) END,
                   '; ' ORDER BY CASE WHEN conflict THEN
                       format('{} at {}:{}', array_to_string(genotype, '/'), chrom, start) END) AS conflicts
    FROM candidates
    GROUP BY curated_id
),

joined AS (
    SELECT
        c.curated_id, c.rsid_raw, c.allele_raw, c.allele_state, c.zygosity, c.weight,
        CASE WHEN c.problem IS NOT NULL THEN c.problem
             WHEN o.published THEN NULL
             WHEN o.conflicted THEN 'conflicting_weights'
             ELSE o.problem
        END AS reason,
        CASE WHEN c.problem IS NOT NULL THEN c.problem_detail
             WHEN o.conflicted THEN 'another curated row gives a different weight for '
                                    || o.conflicts || ' (see conflicts.tsv)'
             ELSE o.problem_detail
        END AS detail
    FROM curated AS c
    LEFT JOIN outcomes AS o USING (curated_id)
),

final AS (
    SELECT
        curated_id AS id,
        rsid_raw AS rsid,
        allele_raw AS allele,
        allele_state AS state,
        zygosity,
        weight,
        reason,
        detail
    FROM joined
    WHERE reason IS NOT NULL
)

SELECT * FROM final ORDER BY id

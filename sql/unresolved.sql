-- unresolved: every claim that did not become (or merge into) a weights row, with the
-- reason. A claim that resolved at one Ensembl record of its rsid counts as resolved even
-- if another record of the rsid did not fit.
-- Reasons: not_an_rsid, malformed_allele, missing_weight, weight_not_a_number,
-- unknown_zygosity and the module's own (from claims: see its curated.sql);
-- rsid_not_in_ensembl, allele_matches_neither_strand, no_allele_to_pair_with (from
-- candidates); conflicting_weights, conflicting_states (see conflicts.tsv).
-- Every claim is either here or published (it gave a candidate row that is in weights
-- or merged into one), never both; every row of the source's claims table gives at least
-- one claim (`row`), so no source row vanishes.
-- Reads: claims, candidates.
WITH outcomes AS (
    SELECT
        curated_id,
        bool_or(genotype IS NOT NULL AND NOT conflict) AS published,
        min(conflict_reason) AS conflict_reason,
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
        c.curated_id, c.source_row, c.rsid_raw, c.allele_raw, c.mode, c.weight_text,
        CASE WHEN c.problem IS NOT NULL THEN c.problem
             WHEN o.published THEN NULL
             WHEN o.conflict_reason IS NOT NULL THEN o.conflict_reason
             ELSE o.problem
        END AS reason,
        CASE WHEN c.problem IS NOT NULL THEN c.problem_detail
             WHEN o.conflict_reason = 'conflicting_weights'
                 THEN 'another claim gives a different weight for ' || o.conflicts || ' (see conflicts.tsv)'
             WHEN o.conflict_reason = 'conflicting_states'
                 THEN 'another claim gives a different state for ' || o.conflicts || ' (see conflicts.tsv)'
             ELSE o.problem_detail
        END AS detail
    FROM claims AS c
    LEFT JOIN outcomes AS o USING (curated_id)
),

final AS (
    SELECT
        curated_id AS id,
        source_row AS "row",
        rsid_raw AS rsid,
        allele_raw AS allele,
        mode,
        weight_text AS weight,
        reason,
        detail
    FROM joined
    WHERE reason IS NOT NULL
)

SELECT * FROM final ORDER BY id

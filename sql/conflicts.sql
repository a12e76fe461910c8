-- conflicts: what needs a second look, one row per (claim, Ensembl record) involved:
--   conflicting_weights  several claims give the genotype with different weights; nothing
--                        is published for the key.
--   conflicting_states   (modules without weights) several claims give it with different
--                        states; nothing is published for the key.
--   several_records      several Ensembl records at that position give the genotype (same
--                        weight); the row of the record marked `record_published` (the
--                        first by end, ref, alts) is in weights.
--   palindromic          an A/T or C/G record where the claim fits both strands: it is
--                        published as given (forward), which cannot be checked.
-- Reads: candidates.
WITH keyed AS (
    SELECT
        *,
        CASE WHEN conflict THEN conflict_reason
             WHEN n_records > 1 THEN 'several_records'
             WHEN palindromic THEN 'palindromic'
        END AS reason,
        -- the record whose row weights publishes (see candidates.published)
        bool_or(published) OVER (PARTITION BY rsid, genotype, chrom, start, finding, record) AS record_published
    FROM candidates
    WHERE genotype IS NOT NULL
),

final AS (
    SELECT
        reason,
        rsid,
        chrom,
        start,
        array_to_string(genotype, '/') AS genotype,
        record,
        record_published,
        curated_id,
        allele_raw AS allele,
        mode,
        weight,
        state,
        strand
    FROM keyed
    WHERE reason IS NOT NULL
)

SELECT DISTINCT * FROM final ORDER BY rsid, chrom, start, genotype, record, curated_id

-- conflicts: the (rsid, genotype, chrom, start) keys that more than one source gives,
-- one row per (curated row, Ensembl record) involved, with the reason:
--   conflicting_weights  several curated rows give the genotype with different weights;
--                        nothing is published for the key.
--   several_records      several Ensembl records at that position give the genotype
--                        (same weight); the row of the record marked
--                        `record_published` (the first by end, ref, alts) is in weights.
-- Reads: candidates.
WITH keyed AS (
    SELECT
        *,
        CASE WHEN conflict THEN 'conflicting_weights'
             WHEN n_records > 1 THEN 'several_records'
        END AS reason,
        -- the record whose row weights publishes (see candidates.published)
        bool_or(published) OVER (PARTITION BY rsid, genotype, chrom, start, record) AS record_published
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
        allele,
        allele_state AS state,
        zygosity,
        weight,
        strand
    FROM keyed
    WHERE reason IS NOT NULL
)

SELECT DISTINCT * FROM final ORDER BY rsid, chrom, start, genotype, record, curated_id

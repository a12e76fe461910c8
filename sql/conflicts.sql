-- conflicts: genotypes that several curated rows give with different weights at the
-- same record; none of them is published in weights. One row per curated row involved.
-- Reads: candidates.
WITH conflicting AS (
    SELECT *
    FROM candidates
    WHERE conflict
),

final AS (
    SELECT
        rsid,
        chrom,
        start,
        array_to_string(genotype, '/') AS genotype,
        curated_id,
        allele,
        allele_state AS state,
        zygosity,
        weight,
        strand
    FROM conflicting
)

SELECT DISTINCT * FROM final ORDER BY rsid, chrom, start, genotype, curated_id

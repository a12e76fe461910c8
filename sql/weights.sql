-- weights: the table the consumer joins on (chrom, start, genotype) or (rsid, genotype).
-- One row per (rsid, genotype, chrom, start, finding): the candidate marked `published`.
-- Claims that give the same genotype with the same weight and state are merged into it;
-- when several Ensembl records give the genotype at that position, the first record by
-- (end, ref, alts) is published and all of them are listed in conflicts.tsv
-- (several_records); genotypes given with different weights (or states) are left out
-- here and listed in conflicts.tsv. clin_sig: the tier of every CLIN_* flag of the record
-- (scripts/ensembl_set.py). state: the claim's own (drugs: significance; superhuman:
-- superability), else from the weight's sign.
-- Parameters: $module, $curator, $method. Reads: candidates.
WITH published_rows AS (
    SELECT *
    FROM candidates
    WHERE published
),

final AS (
    SELECT
        rsid,
        genotype,
        CAST($module AS VARCHAR) AS module,
        weight,
        state,
        priority,
        conclusion,
        CAST($curator AS VARCHAR) AS curator,
        CAST($method AS VARCHAR) AS method,
        chrom,
        CAST(start AS UINTEGER) AS start,
        CAST("end" AS UINTEGER) AS "end",
        ref,
        alts,
        clinvar,
        pathogenic,
        benign,
        likely_pathogenic,
        likely_benign,
        clin_sig
    FROM published_rows
)

SELECT * FROM final ORDER BY chrom, start, rsid, genotype, conclusion

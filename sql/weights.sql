-- weights: the table the consumer joins on (chrom, start, genotype) or (rsid, genotype).
-- clin_sig: the tier of every CLIN_* flag of the record (scripts/longevitymap.py).
-- One row per (rsid, genotype, chrom, start): the candidate marked `published`.
-- Curated rows that give the same genotype with the same weight are merged into it;
-- when several Ensembl records give the genotype at that position, the first record by
-- (end, ref, alts) is published and all of them are listed in conflicts.tsv
-- (several_records); genotypes given with different weights are left out here and
-- listed in conflicts.tsv (conflicting_weights).
-- Parameters: $module, $curator, $method. Reads: candidates, variant.
WITH published_rows AS (
    SELECT *
    FROM candidates
    WHERE published
),

-- The conclusion of an rsid, chosen deterministically among its studies: significant
-- associations first, then the most recent, then the lowest study id.
studies AS (
    SELECT
        lower(trim(identifier)) AS rsid,
        trim(conclusions) AS conclusion,
        row_number() OVER (
            PARTITION BY lower(trim(identifier))
            ORDER BY (association = 'significant') DESC NULLS LAST, quickyear DESC NULLS LAST, id
        ) AS rank
    FROM variant
    WHERE nullif(trim(conclusions), '') IS NOT NULL
),

conclusions AS (
    SELECT rsid, conclusion FROM studies WHERE rank = 1
),

final AS (
    SELECT
        m.rsid,
        m.genotype,
        CAST($module AS VARCHAR) AS module,
        m.weight,
        CASE WHEN m.weight > 0 THEN 'protective'
             WHEN m.weight < 0 THEN 'risk'
             ELSE 'neutral' END AS state,
        m.priority,
        c.conclusion,
        CAST($curator AS VARCHAR) AS curator,
        CAST($method AS VARCHAR) AS method,
        m.chrom,
        CAST(m.start AS UINTEGER) AS start,
        CAST(m."end" AS UINTEGER) AS "end",
        m.ref,
        m.alts,
        m.clinvar,
        m.pathogenic,
        m.benign,
        m.likely_pathogenic,
        m.likely_benign,
        m.clin_sig
    FROM published_rows AS m
    LEFT JOIN conclusions AS c USING (rsid)
)

SELECT * FROM final ORDER BY chrom, start, rsid, genotype

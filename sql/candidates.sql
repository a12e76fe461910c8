-- candidates: every checked claim against every Ensembl record of its rsid, resolved into
-- genotypes on Ensembl's forward strand. One row per (claim, record, genotype); a claim
-- that yields no genotype at a record (or has no record) gets one row with `problem` set
-- instead.
-- Rules: genotype -> the two bases; hom -> [a, a]; het -> a paired with each other allele
-- of the record (ref and alts); carrier -> [a, a] and a with each other allele. Bases
-- found neither in ref nor alts but whose complements (A<->T, C<->G) are, are read on the
-- reverse strand and complemented, for every mode. When both strands fit (A/T and C/G
-- records) the bases are taken as given (forward) and the row is marked `palindromic`.
-- Per key (rsid, genotype, chrom, start, finding): `conflict` marks genotypes that several
-- claims give with different weights (or, without weights, different states): none is
-- published; `n_records` counts the Ensembl records that give the genotype there;
-- `published` marks the one row per key that weights publishes: the first record by (end,
-- ref, alts), then the lowest claim id (the other rows of the key merge into it).
-- Reads: claims, ensembl_hits.
WITH claims_ok AS (
    SELECT
        curated_id, rsid, allele_raw, mode, bases, weight, priority, conclusion, finding,
        coalesce(state_given, CASE WHEN weight > 0 THEN 'protective'
                                   WHEN weight < 0 THEN 'risk'
                                   ELSE 'neutral' END) AS state
    FROM claims
    WHERE problem IS NULL
),

records AS (
    SELECT
        *,
        list_distinct(list_filter([ref] || alts,
                                  lambda a: a IS NOT NULL AND a NOT IN ('', '.', '*'))) AS record_alleles,
        format('{}:{} {}>{}', chrom, start, ref, array_to_string(alts, ',')) AS record_label
    FROM ensembl_hits
),

joined AS (
    SELECT
        c.*,
        r.* EXCLUDE (rsid),
        r.rsid IS NOT NULL AS in_ensembl,
        list_transform(c.bases, lambda b: translate(b, 'ACGT', 'TGCA')) AS complement
    FROM claims_ok AS c
    LEFT JOIN records AS r USING (rsid)
),

oriented AS (
    SELECT
        *,
        CASE WHEN list_has_all(record_alleles, bases) THEN 'forward'
             WHEN list_has_all(record_alleles, complement) THEN 'reverse'
        END AS strand,
        list_has_all(record_alleles, bases) AND list_has_all(record_alleles, complement)
            AND list_sort(bases) <> list_sort(complement) AS palindromic
    FROM joined
),

expanded AS (
    SELECT
        *,
        CASE WHEN strand = 'forward' THEN bases ELSE complement END AS forward_bases
    FROM oriented
),

genotyped AS (
    SELECT
        *,
        CASE
            WHEN strand IS NULL THEN NULL
            WHEN mode = 'genotype' THEN [forward_bases]
            WHEN mode = 'hom' THEN [[forward_bases[1], forward_bases[1]]]
            WHEN mode = 'het' THEN list_transform(list_filter(record_alleles, lambda a: a <> forward_bases[1]),
                                                  lambda a: [forward_bases[1], a])
            ELSE [[forward_bases[1], forward_bases[1]]]
                 || list_transform(list_filter(record_alleles, lambda a: a <> forward_bases[1]),
                                   lambda a: [forward_bases[1], a])
        END AS genotypes
    FROM expanded
),

resolved AS (
    SELECT * EXCLUDE (genotypes, genotype_unsorted), list_sort(genotype_unsorted) AS genotype,
           CAST(NULL AS VARCHAR) AS problem, CAST(NULL AS VARCHAR) AS problem_detail
    FROM (SELECT *, unnest(genotypes) AS genotype_unsorted FROM genotyped)
),

unresolved AS (
    SELECT * EXCLUDE (genotypes), CAST(NULL AS VARCHAR[]) AS genotype,
        CASE WHEN NOT in_ensembl THEN 'rsid_not_in_ensembl'
             WHEN strand IS NULL THEN 'allele_matches_neither_strand'
             ELSE 'no_allele_to_pair_with'
        END AS problem,
        CASE WHEN NOT in_ensembl THEN format('{} is not in the Ensembl Parquet set', rsid)
             WHEN strand IS NULL THEN format('{} {} matches neither strand of {}',
                                             CASE WHEN mode = 'genotype' THEN 'genotype' ELSE 'allele' END,
                                             array_to_string(bases, '/'), record_label)
             ELSE format('{} has no allele other than {} to pair with', record_label, forward_bases[1])
        END AS problem_detail
    FROM genotyped
    WHERE genotypes IS NULL OR len(genotypes) = 0
),

unioned AS (
    SELECT * FROM resolved
    UNION ALL BY NAME
    SELECT * FROM unresolved
),

keyed AS (
    SELECT
        curated_id, rsid, allele_raw, mode, weight, state, priority, conclusion, finding,
        chrom, start, "end", ref, alts, clinvar, pathogenic, benign, likely_pathogenic, likely_benign, clin_sig,
        record_label AS record, strand, coalesce(palindromic, false) AS palindromic, genotype, problem,
        problem_detail,
        CASE WHEN genotype IS NULL THEN NULL
             WHEN count(DISTINCT weight) OVER key > 1 THEN 'conflicting_weights'
             WHEN count(DISTINCT state) OVER key > 1 THEN 'conflicting_states'
        END AS conflict_reason,
        CASE WHEN genotype IS NOT NULL THEN count(DISTINCT record_label) OVER key END AS n_records,
        row_number() OVER (key ORDER BY "end", ref, alts, curated_id) AS rank_in_key
    FROM unioned
    WINDOW key AS (PARTITION BY rsid, genotype, chrom, start, finding)
),

final AS (
    SELECT
        * EXCLUDE (rank_in_key),
        conflict_reason IS NOT NULL AS conflict,
        genotype IS NOT NULL AND conflict_reason IS NULL AND rank_in_key = 1 AS published
    FROM keyed
)

SELECT * FROM final ORDER BY curated_id, chrom, start, ref, genotype

-- curated: LongevityMap's allele_weights as claims (sql/claims.sql checks them), one per
-- row. state alt/ref gives one allele paired by its zygosity (hom: a/a, het: a with each
-- other allele of the record); state spec gives the genotype, two bases. `conclusion` is
-- the rsid's, chosen deterministically among its studies: significant associations first,
-- then the most recent, then the lowest study id.
-- Reads: allele_weights, variant (the SQLite's tables, registered by scripts/modules.py).
WITH source AS (
    SELECT id, allele, state, zygosity, weight, rsid, priority
    FROM allele_weights
),

cleaned AS (
    SELECT
        id                       AS curated_id,
        id                       AS source_row,
        rsid                     AS rsid_raw,
        allele                   AS allele_raw,
        lower(trim(rsid))        AS rsid,
        upper(trim(allele))      AS allele,
        lower(trim(state))       AS allele_state,
        lower(trim(zygosity))    AS zygosity,
        weight                   AS weight_raw,
        trim(priority)           AS priority
    FROM source
),

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

checked AS (
    SELECT
        c.*,
        k.conclusion,
        CASE
            WHEN c.allele_state IS NULL OR c.allele_state NOT IN ('alt', 'ref', 'spec')
                THEN 'unknown_state'
            WHEN c.zygosity IS NULL OR c.zygosity NOT IN ('het', 'hom')
                THEN 'unknown_zygosity'
            WHEN c.allele_state = 'spec' AND regexp_full_match(c.allele, '[ACGT]{2}')
                 AND (c.zygosity = 'het') = (substr(c.allele, 1, 1) = substr(c.allele, 2, 1))
                THEN 'malformed_allele'
        END AS problem
    FROM cleaned AS c
    LEFT JOIN conclusions AS k USING (rsid)
),

final AS (
    SELECT
        curated_id, source_row, rsid_raw, allele_raw, rsid,
        CASE WHEN allele_state = 'spec' THEN 'genotype' ELSE zygosity END AS mode,
        CASE WHEN allele_state = 'spec' THEN [substr(allele, 1, 1), substr(allele, 2, 1)]
             ELSE [allele] END AS bases,
        weight_raw,
        CAST(NULL AS VARCHAR) AS state,
        priority,
        conclusion,
        CAST(NULL AS VARCHAR) AS finding,
        problem,
        CASE problem
            WHEN 'unknown_state' THEN format('state {} is not alt, ref or spec', coalesce(allele_state, 'NULL'))
            WHEN 'unknown_zygosity' THEN format('zygosity {} is not het or hom', coalesce(zygosity, 'NULL'))
            WHEN 'malformed_allele' THEN format('spec allele {} does not fit zygosity {}', allele, zygosity)
        END AS problem_detail
    FROM checked
)

SELECT * FROM final ORDER BY curated_id

-- annotations: what each rsid of the curation is associated with.
-- Distinct rows of (rsid, module, gene, phenotype, category); rsids only (identifiers
-- that are gene names, HGVS-like labels, empty or NULL are left out). Every rsid that
-- appears in the studies (variant) or in the weights (allele_weights) is listed; gene
-- is the gene symbol of its studies, category the category of its weights (NULL when
-- it has none).
-- Parameters: $module, $phenotype. Reads: variant, gene, allele_weights, categories.
WITH studied AS (
    SELECT lower(trim(identifier)) AS rsid, gene_id
    FROM variant
),

weighted AS (
    SELECT lower(trim(rsid)) AS rsid, category_id
    FROM allele_weights
),

rsids AS (
    SELECT rsid FROM studied
    UNION
    SELECT rsid FROM weighted
),

cleaned AS (
    SELECT rsid
    FROM rsids
    WHERE regexp_full_match(rsid, 'rs[0-9]+')
),

genes AS (
    SELECT DISTINCT s.rsid, nullif(trim(g.symbol), '') AS gene
    FROM studied AS s
    JOIN gene AS g ON g.id = s.gene_id
    WHERE nullif(trim(g.symbol), '') IS NOT NULL
),

categories_of AS (
    SELECT DISTINCT w.rsid, k.name AS category
    FROM weighted AS w
    JOIN categories AS k ON k.id = w.category_id
    WHERE k.name IS NOT NULL
),

joined AS (
    SELECT r.rsid, g.gene, k.category
    FROM cleaned AS r
    LEFT JOIN genes AS g USING (rsid)
    LEFT JOIN categories_of AS k USING (rsid)
),

final AS (
    SELECT DISTINCT
        rsid,
        CAST($module AS VARCHAR) AS module,
        gene,
        CAST($phenotype AS VARCHAR) AS phenotype,
        category
    FROM joined
)

SELECT * FROM final ORDER BY rsid, gene, category

-- annotations: what each rsid of the curation is associated with. Distinct rows of (rsid,
-- module, gene, phenotype, category) for every rsid of the rsid or genotype_weights tables
-- (rsids only); gene from the rsid table.
-- Parameters: $module, $phenotype, $category. Reads: rsid, genotype_weights.
WITH listed AS (
    SELECT lower(trim(rsid)) AS rsid, nullif(trim(gene), '') AS gene
    FROM rsid
),

weighted AS (
    SELECT lower(trim(rsID)) AS rsid
    FROM genotype_weights
),

all_rsids AS (
    SELECT rsid FROM listed
    UNION
    SELECT rsid FROM weighted
),

cleaned AS (
    SELECT rsid FROM all_rsids WHERE regexp_full_match(rsid, 'rs[0-9]+')
),

genes AS (
    SELECT DISTINCT rsid, gene FROM listed WHERE gene IS NOT NULL
),

final AS (
    SELECT DISTINCT
        r.rsid,
        CAST($module AS VARCHAR) AS module,
        g.gene,
        CAST($phenotype AS VARCHAR) AS phenotype,
        CAST($category AS VARCHAR) AS category
    FROM cleaned AS r
    LEFT JOIN genes AS g USING (rsid)
)

SELECT * FROM final ORDER BY rsid, gene

-- annotations: what each rsid of the curation is associated with. Distinct rows of (rsid,
-- module, gene, phenotype, category) for every rsid of the rsids or weight tables (rsids
-- only); gene from the rsids table.
-- Parameters: $module, $phenotype, $category. Reads: rsids, weight.
WITH listed AS (
    SELECT lower(trim(rsid)) AS rsid, nullif(trim(gene), '') AS gene
    FROM rsids
),

weighted AS (
    SELECT lower(trim(rsid)) AS rsid
    FROM weight
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

-- lm_hits: one Ensembl Parquet file's records of the curated rsids (the map step of
-- the LongevityMap module; `make longevitymap` runs ensembl_hits and the rest over the
-- hits files of the whole set). Same semi join as ensembl_hits.sql, but the columns
-- are kept under their own names and types, so the union of the hits files is the
-- part of the Parquet set the module reads.
-- Reads: curated (sql/curated.sql), source (a view over the one file made by
-- scripts/longevitymap.py: chrom, start, end, id, ref, alts, the ClinVar_<YYYYMM> and
-- CLIN_* flags).
WITH curated_rsids AS (
    SELECT DISTINCT rsid
    FROM curated
    WHERE problem IS NULL
),

hits AS (
    SELECT source.*
    FROM source
    SEMI JOIN curated_rsids ON source.id = curated_rsids.rsid
),

final AS (
    SELECT * FROM hits
)

SELECT * FROM final ORDER BY id, chrom, start, ref, alts

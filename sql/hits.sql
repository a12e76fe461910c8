-- hits: one Ensembl Parquet file's records of the curated rsids of every module of the
-- set (the map step; `make modules` runs ensembl_hits and the rest over the hits files
-- of the whole set). Same semi join as ensembl_hits.sql, but the columns are kept under
-- their own names and types, so the union of the hits files is the part of the Parquet
-- set the modules read.
-- Reads: curated_rsids (the rsids of every module's claims without a problem, gathered by
-- scripts/modules.py), source (a view over the one file: chrom, start, end, id, ref, alts,
-- the ClinVar_<YYYYMM> and CLIN_* flags).
WITH rsids AS (
    SELECT DISTINCT rsid
    FROM curated_rsids
),

hits AS (
    SELECT source.*
    FROM source
    SEMI JOIN rsids ON source.id = rsids.rsid
),

final AS (
    SELECT * FROM hits
)

SELECT * FROM final ORDER BY id, chrom, start, ref, alts

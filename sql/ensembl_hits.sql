-- ensembl_hits: the Ensembl records of the module's curated rsids. The only step that
-- reads the Parquet set (or the hits files that stand for it): it reads just the columns
-- below, and the semi join against the curated rsids keeps only their records, so nothing
-- wide is ever held.
-- Reads: claims (sql/claims.sql), ensembl (a view over the Parquet set or the hits files
-- made by scripts/ensembl_set.py: chrom, start, end, id, ref, alts and the ClinVar flags
-- under fixed names: clinvar, pathogenic, benign, likely_pathogenic, likely_benign, and
-- clin_sig, the tier derived from every CLIN_* flag of the record).
WITH curated_rsids AS (
    SELECT DISTINCT rsid
    FROM claims
    WHERE problem IS NULL
),

source AS (
    SELECT chrom, start, "end", id, ref, alts,
           clinvar, pathogenic, benign, likely_pathogenic, likely_benign, clin_sig
    FROM ensembl
),

hits AS (
    SELECT source.*
    FROM source
    SEMI JOIN curated_rsids ON source.id = curated_rsids.rsid
),

final AS (
    SELECT
        id AS rsid, CAST(chrom AS VARCHAR) AS chrom,
        CAST(start AS UINTEGER) AS start, CAST("end" AS UINTEGER) AS "end",
        ref, alts, clinvar, pathogenic, benign, likely_pathogenic, likely_benign, clin_sig
    FROM hits
)

SELECT * FROM final ORDER BY rsid, chrom, start, ref, alts

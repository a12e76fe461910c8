"""A small demo LongevityMap curation: a SQLite with the real schema, and the VCF
records the demo mirror must carry so that the demo yields non-empty weights.

    python scripts/dev/lmfixture.py OUT.sqlite      # write the demo curation

`build_sqlite(path)` writes the curation; tests pass their own rows through the
keyword arguments. `DEMO_VARIANTS` are (chrom, pos, rsid, ref, alt, info) records
on GRCh38 (APOE rs7412 / rs429358 at their real positions; the others are real
LongevityMap rsids placed on the demo chromosomes to exercise the rules).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import typer

import onpath  # noqa: F401 - scripts/ on sys.path, before the pipeline's modules
import common

# The tables of just_longevitymap's data/longevitymap.sqlite, as created there.
SCHEMA = """
CREATE TABLE `gene` (
  `id` integer NOT NULL PRIMARY KEY,
  `name` text NOT NULL,
  `symbol` text NOT NULL,
  `alias` text DEFAULT NULL,
  `description` text,
  `omim` text DEFAULT NULL,
  `ensembl` text DEFAULT NULL,
  `uniprot` text DEFAULT NULL,
  `unigene` text DEFAULT NULL,
  `cytogenetic_location` text DEFAULT NULL
);
CREATE TABLE `population` (
  `id` integer NOT NULL PRIMARY KEY,
  `name` text NOT NULL
);
CREATE TABLE `variant` (
  `id` integer NOT NULL PRIMARY KEY,
  `location` text DEFAULT NULL,
  `study_design` text NOT NULL,
  `conclusions` text NOT NULL,
  `association` text DEFAULT NULL,
  `gender` text NOT NULL,
  `quickref` text NOT NULL,
  `quickyear` integer NOT NULL,
  `quickpubmed` text NOT NULL,
  `identifier` text DEFAULT NULL,
  `gene_id` integer DEFAULT NULL,
  `population_id` integer NOT NULL
);
CREATE INDEX identifier_index ON variant(identifier);
CREATE TABLE "allele_weights" (
  "id" INTEGER NOT NULL UNIQUE,
  "allele" TEXT NOT NULL,
  "state" TEXT NOT NULL,
  "zygosity" TEXT,
  "weight" REAL DEFAULT 0,
  "rsid" TEXT NOT NULL,
  "priority" TEXT NOT NULL,
  "category_id" INTEGER,
  PRIMARY KEY("id")
);
CREATE INDEX "allele_weights_rsid_index" ON "allele_weights" ("rsid");
CREATE TABLE "categories" (
  "id" INTEGER NOT NULL UNIQUE,
  "name" TEXT,
  PRIMARY KEY("id")
);
"""

CATEGORIES = [(0, "other"), (1, "lipids"), (2, "insulin"), (3, "antioxidant"),
              (10, "inflammation"), (11, "genome_maintenance")]
POPULATIONS = [(1, "Dutch"), (2, "Finnish"), (3, "Italian"), (4, "Danish")]
# (id, name, symbol)
GENES = [(0, "", ""), (1, "apolipoprotein E", "APOE"), (2, "translocase of outer "
         "mitochondrial membrane 40", "TOMM40"), (3, "ERCC excision repair 2", "ERCC2"),
         (4, "adenosine deaminase RNA specific B1", "ADARB1"), (5, "forkhead box O3", "FOXO3"),
         (6, "insulin receptor substrate 1", "IRS1"), (7, "neural cell adhesion molecule 2",
         "NCAM2")]
# (id, location, study_design, conclusions, association, quickref, quickyear,
#  quickpubmed, identifier, gene_id, population_id)
VARIANTS = [
    (1, "19q13.32", "179 Finnish centenarians", "The frequency of the E2 allele was higher in "
     "the centenarians", "significant", "Louhija et al. (1994)", 1994, "8018664", "rs7412", 1, 2),
    (2, "19q13.32", "1,089 Danish nonagenarians", "rs7412 was associated with survival",
     "significant", "Soerensen et al. (2013)", 2013, "23051975", "rs7412", 1, 4),
    (3, "19q13.32", "Dutch cohort", "No association with longevity", "non-significant",
     "Doe et al. (2001)", 2001, "11111111", "rs7412", 1, 1),
    (4, "19q13.32", "1,089 Danish nonagenarians", "APOE e4 carriers had a 22% increased "
     "mortality risk", "significant", "Soerensen et al. (2013)", 2013, "23051975", "rs429358", 1, 4),
    (5, "19q13.32", "Italian centenarians", "E4 was less frequent in centenarians",
     "significant", "Roe et al. (2009)", 2009, "22222222", "rs429358", 1, 3),
    (6, "19q13.32", "GWAS of nonagenarians", "rs2075650 in TOMM40 was associated with "
     "survival", "significant", "Deelen et al. (2011)", 2011, "21418511", "rs2075650", 2, 1),
    (7, "19q13.32", "DNA repair genes in the elderly", "ERCC2 Lys751Gln genotype differed "
     "by age", "significant", "Roe et al. (2010)", 2010, "33333333", "rs13181", 3, 3),
    (8, "21q22.3", "Candidate genes in centenarians", "ADARB1 SNPs were associated with "
     "longevity", "significant", "Sebastiani et al. (2009)", 2009, "19415132", "rs2838809", 4, 3),
    (9, "21q22.3", "Candidate genes in centenarians", "ADARB1 SNPs were associated with "
     "longevity", "significant", "Sebastiani et al. (2009)", 2009, "19415132", "rs414743", 4, 3),
    (10, "21q21.1", "GWAS of centenarians", "rs2826891 near NCAM2 was nominally associated",
     "non-significant", "Sebastiani et al. (2012)", 2012, "22279548", "rs2826891", 7, 3),
    (11, "6q21", "Japanese-American men", "FOXO3A G allele was associated with longevity",
     "significant", "Willcox et al. (2008)", 2008, "18765803", "rs2802292", 5, 1),
    (12, "2q36.3", "Italian centenarians", "The Gly972Arg variant of IRS1 was not associated",
     "non-significant", "Roe et al. (2005)", 2005, "44444444", "IRS1", 6, 3),
    (13, "2q36.3", "Italian centenarians", "-1031T/C promoter variant studied",
     "non-significant", "Roe et al. (2006)", 2006, "55555555", "-1031T/C", 6, 3),
    (14, "", "Dutch cohort", "Unnamed variant", "non-significant", "Doe et al. (1999)", 1999,
     "66666666", "", 0, 1),
    (15, None, "Dutch cohort", "Variant without identifier", "", "Doe et al. (1998)", 1998,
     "77777777", None, None, 1),
]
# (id, allele, state, zygosity, weight, rsid, priority, category_id)
ALLELE_WEIGHTS = [
    # APOE anchors; row 4 repeats row 0 (same genotype, same weight) to exercise the
    # merge: it is merged, not a conflict (the real curation has no such duplicate)
    (0, "T", "alt", "het", 0.5, "rs7412", "1.0", 1),
    (1, "T", "alt", "hom", 1.0, "rs7412", "1.0", 1),
    (2, "C", "alt", "het", -0.5, "rs429358", "1.0", 1),
    (3, "C", "alt", "hom", -1.0, "rs429358", "1.0", 1),
    (4, "T", "alt", "het", 0.5, "rs7412", "1.0", 1),
    (5, "G", "alt", "het", -0.195, "rs2075650", "0.39", 1),
    (6, "G", "alt", "hom", -0.39, "rs2075650", "0.39", 1),
    # spec on the reverse strand: AC is TG on Ensembl's forward strand (T>G)
    (7, "AC", "spec", "het", 0.085, "rs13181", "0.17", 11),
    # multi-allelic record C>G,T: het G pairs with C and with T
    (8, "C", "ref", "hom", 0.35, "rs2838809", "0.35", 0),
    (9, "G", "alt", "het", 0.175, "rs2838809", "0.35", 0),
    # strand-flipped single allele: T on the reverse strand is A on the record G>A
    (10, "T", "alt", "het", 0.065, "rs2826891", "0.13", 0),
    (11, "T", "alt", "hom", 0.13, "rs2826891", "0.13", 0),
    (12, "A", "alt", "het", -0.175, "rs414743", "0.35", 0),
    (13, "A", "alt", "hom", -0.35, "rs414743", "0.35", 0),
    # absent from the demo's Ensembl set (FOXO3 is on chromosome 6)
    (14, "G", "alt", "het", 0.14, "rs2802292", "0.14", 2),
    (15, "G", "alt", "hom", 0.28, "rs2802292", "0.14", 2),
    # not an rsid
    (16, "A", "alt", "het", 0.1, "IRS1", "0.1", 2),
]

DEMO_VARIANTS: list[tuple[str, int, str, str, str, str]] = [
    ("19", 44892362, "rs2075650", "A", "G", "dbSNP_156;TSA=SNV;E_Cited;E_Freq"),
    ("19", 44908684, "rs429358", "T", "C",
     "dbSNP_156;ClinVar_202409;TSA=SNV;E_Cited;E_Freq;CLIN_risk_factor"),
    ("19", 44908822, "rs7412", "C", "T", "dbSNP_156;ClinVar_202409;TSA=SNV;E_Cited;CLIN_benign"),
    ("19", 45351661, "rs13181", "T", "G",
     "dbSNP_156;ClinVar_202409;TSA=SNV;E_Cited;CLIN_benign;CLIN_likely_benign"),
    ("21", 17788566, "rs2826891", "G", "A", "dbSNP_156;TSA=SNV;E_Freq"),
    ("21", 45073866, "rs2838809", "C", "G,T", "dbSNP_156;TSA=SNV;E_Freq"),
    ("21", 45112170, "rs414743", "G", "A", "dbSNP_156;TSA=SNV"),
]


def write_sqlite(path: Path, schema: str, inserts: list[tuple[str, list[tuple]]]) -> Path:
    """Write a SQLite file from ``schema`` and (insert statement, rows) pairs through a
    temporary sibling and a rename; return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = common.temp_path_for(path)
    tmp.unlink(missing_ok=True)
    try:
        con = sqlite3.connect(tmp)
        try:
            con.executescript(schema)
            for sql, rows in inserts:
                con.executemany(sql, rows)
            con.commit()
        finally:
            con.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def build_sqlite(path: Path, *, allele_weights=None, variants=None, genes=None,
                 populations=None, categories=None) -> Path:
    """Write a LongevityMap SQLite with the real schema to ``path`` (through a
    temporary sibling and a rename) and return ``path``. Rows default to the demo
    curation above; tests give their own."""
    return write_sqlite(path, SCHEMA, [
        ("INSERT INTO gene (id, name, symbol) VALUES (?, ?, ?)", GENES if genes is None else genes),
        ("INSERT INTO population VALUES (?, ?)", POPULATIONS if populations is None else populations),
        ("INSERT INTO categories VALUES (?, ?)", CATEGORIES if categories is None else categories),
        ("INSERT INTO variant (id, location, study_design, conclusions, association, "
         "gender, quickref, quickyear, quickpubmed, identifier, gene_id, population_id) "
         "VALUES (?, ?, ?, ?, ?, 'male/female', ?, ?, ?, ?, ?, ?)",
         VARIANTS if variants is None else variants),
        ("INSERT INTO allele_weights VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
         ALLELE_WEIGHTS if allele_weights is None else allele_weights),
    ])


def main(out: Path = typer.Argument(..., help="SQLite file to write")) -> None:
    """Write the demo LongevityMap curation."""
    build_sqlite(out)


if __name__ == "__main__":
    typer.run(main)

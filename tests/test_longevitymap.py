"""LongevityMap module: genotype resolution rules, the output tables, invalid inputs,
and real `make longevitymap` runs. Fixtures are a small SQLite with the real schema
(lmfixture) and small Ensembl-shaped Parquet files written here with polars; the
expected values are worked out by hand from the rules in the issue."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import common
import config
import ensembl_set
import lmfixture
import modbuild
import moduledef
from helpers import ROOT, make, output, record, write_ensembl

REAL_SQLITE = Path("/work/shared/data/longevitymap.sqlite")
if not REAL_SQLITE.exists():
    REAL_SQLITE = ROOT.parent / "shared" / "data" / "longevitymap.sqlite"
SCRIPT = ROOT / "scripts" / "modules.py"
LM = moduledef.get("longevitymap")
OUTPUTS = moduledef.OUTPUTS

# --------------------------------------------------------------------------- fixtures


def aw(id_, allele, state, zygosity, weight, rsid, priority="1.0", category=0):
    return (id_, allele, state, zygosity, weight, rsid, priority, category)


def cfg_for(tmp: Path) -> dict:
    return config.load(env={"CACHE_DIR": str(tmp / "cache")})


def build(tmp: Path, weights_rows=None, records=None, variants=None, files=None, **ens) -> dict:
    """Run the module's SQL in-process; return the outputs as polars frames."""
    sqlite = lmfixture.build_sqlite(tmp / "lm.sqlite", allele_weights=weights_rows, variants=variants)
    if files is None:
        files = [str(write_ensembl(tmp / "ens" / "homo_sapiens-chr1.parquet", records, **ens))]
    results, facts = modbuild.build_tables(cfg_for(tmp), LM, sqlite, files)
    out = {name.split(".")[0]: pl.from_arrow(t) for name, t in results.items()}
    out["facts"] = facts
    return out


def genotypes(weights: pl.DataFrame, rsid: str) -> dict[tuple[str, ...], float]:
    rows = weights.filter(pl.col("rsid") == rsid)
    return {tuple(r["genotype"]): r["weight"] for r in rows.iter_rows(named=True)}


def reasons(unresolved: pl.DataFrame) -> dict[int, str]:
    return dict(zip(unresolved["id"].to_list(), unresolved["reason"].to_list()))


def assert_every_row_accounted_for(sqlite: Path, weights: pl.DataFrame, unresolved: pl.DataFrame,
                                   facts: dict) -> set[int]:
    """Row level: every curated row (read straight from the SQLite) is either published
    (gave a weights row or merged into one) or in unresolved.tsv, never both; the
    published rows' (rsid, weight) pairs are exactly those of weights. Returns the
    published ids."""
    con = sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT id, lower(trim(rsid)), weight FROM allele_weights").fetchall()
    finally:
        con.close()
    left = set(unresolved["id"].to_list())
    assert len(left) == unresolved.height and left <= {r[0] for r in rows}
    published = {r[0] for r in rows} - left
    assert facts["published_claims"] == len(published) and facts["source_rows"] == len(rows)
    by_id = {r[0]: (r[1], r[2]) for r in rows}
    assert {by_id[i] for i in published} == set(zip(weights["rsid"], weights["weight"]))
    return published


def run_script(*args: str, cache: Path, **env: str) -> subprocess.CompletedProcess:
    """scripts/modules.py with CACHE_DIR; `fetch` and `build` act on longevitymap."""
    if args and args[0] in ("fetch", "build"):
        args = (args[0], "longevitymap", *args[1:])
    args = tuple("--source" if a == "--sqlite" else a for a in args)
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("ENSEMBL_PARQUET", "LONGEVITYMAP_URL", "CACHE_DIR", "PA_CONFIG")}
    full_env.update(CACHE_DIR=str(cache), **env)
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=full_env, timeout=120)


# --------------------------------------------------------------------------- the rules

APOE = [record("19", 44908822, "rs7412", "C", ["T"], "ClinVar", "CLIN_benign"),
        record("19", 44908684, "rs429358", "T", ["C"], "ClinVar", "CLIN_likely_pathogenic")]
APOE_ROWS = [aw(0, "T", "alt", "het", 0.5, "rs7412"), aw(1, "T", "alt", "hom", 1.0, "rs7412"),
             aw(2, "C", "alt", "het", -0.5, "rs429358"), aw(3, "C", "alt", "hom", -1.0, "rs429358")]


def test_hom_and_het_alt_apoe_anchors(tmp_path):
    out = build(tmp_path, APOE_ROWS, APOE)
    w = out["weights"]
    assert genotypes(w, "rs7412") == {("C", "T"): 0.5, ("T", "T"): 1.0}
    assert genotypes(w, "rs429358") == {("C", "T"): -0.5, ("C", "C"): -1.0}
    assert out["unresolved"].height == 0 and out["conflicts"].height == 0
    row = w.filter(pl.col("rsid") == "rs7412").row(0, named=True)
    assert (row["chrom"], row["start"], row["end"], row["ref"], row["alts"]) == ("19", 44908822, 44908822, "C", ["T"])
    assert (row["module"], row["curator"], row["method"]) == ("longevitymap", "Olga Borysova", "literature_review")


def test_weights_schema_and_types(tmp_path):
    w = build(tmp_path, APOE_ROWS, APOE)["weights"]
    assert w.columns == ["rsid", "genotype", "module", "weight", "state", "priority", "conclusion",
                         "curator", "method", "chrom", "start", "end", "ref", "alts", "clinvar",
                         "pathogenic", "benign", "likely_pathogenic", "likely_benign", "clin_sig"]
    assert w.schema["clin_sig"] == pl.String
    assert w.schema["genotype"] == pl.List(pl.String) and w.schema["alts"] == pl.List(pl.String)
    assert w.schema["start"] == pl.UInt32 and w.schema["end"] == pl.UInt32
    assert w.schema["weight"] == pl.Float64
    assert all(g == sorted(g) and len(g) == 2 for g in w["genotype"].to_list())


def test_clinvar_flag_found_by_pattern_and_clin_flags(tmp_path):
    w = build(tmp_path, APOE_ROWS, APOE, clinvar="ClinVar_202502")["weights"]
    flags = {r["rsid"]: (r["clinvar"], r["benign"], r["likely_pathogenic"], r["pathogenic"], r["likely_benign"])
             for r in w.iter_rows(named=True)}
    assert flags["rs7412"] == (True, True, False, False, False)
    assert flags["rs429358"] == (True, False, True, False, False)
    recs = [dict(APOE[0], flags=set()), APOE[1]]
    w2 = build(tmp_path / "b", APOE_ROWS, recs, clinvar="ClinVar_209912")["weights"]
    assert dict(zip(w2["rsid"], w2["clinvar"])) == {"rs7412": False, "rs429358": True}


def test_missing_clinvar_and_clin_columns_give_nulls(tmp_path):
    out = build(tmp_path, APOE_ROWS, APOE, clinvar=None, drop=("CLIN_benign",))
    w = out["weights"]
    assert w.height == 4
    assert w["clinvar"].null_count() == 4 and w["benign"].null_count() == 4
    assert w["likely_pathogenic"].null_count() == 0
    assert out["facts"]["clinvar_flag"] is None


def test_flag_present_in_part_of_the_set_is_false_elsewhere(tmp_path):
    # chr19 lacks CLIN_benign and the ClinVar flag; chr21 has both (and a NULL pathogenic)
    a = write_ensembl(tmp_path / "ens" / "homo_sapiens-chr19.parquet", APOE, clinvar=None, drop=("CLIN_benign",))
    recs = [record("21", 1000, "rs21", "C", ["T"], "CLIN_benign", "ClinVar")]
    b = write_ensembl(tmp_path / "ens" / "homo_sapiens-chr21.parquet", recs)
    pl.read_parquet(b).with_columns(pl.lit(None, dtype=pl.Boolean).alias("CLIN_pathogenic")).write_parquet(b)
    rows = APOE_ROWS + [aw(5, "T", "alt", "hom", 0.1, "rs21")]
    w = build(tmp_path, rows, files=[str(a), str(b)])["weights"]
    flags = ["clinvar", "pathogenic", "benign", "likely_pathogenic", "likely_benign"]
    for flag in flags:
        assert w[flag].null_count() == 0, flag
    got = {r["rsid"]: tuple(r[f] for f in flags) for r in w.iter_rows(named=True)}
    assert got == {"rs7412": (False, False, False, False, False),
                   "rs429358": (False, False, False, True, False),
                   "rs21": (True, False, True, False, False)}


def test_clin_sig_from_every_clin_flag(tmp_path):
    """clin_sig: one tier of the consumer's vocabulary from all CLIN_* flags of the record
    (found by name, whatever the release has), the most consequential winning; the flag
    columns stay as they were."""
    recs = [record("19", 44908684, "rs429358", "T", ["C"], "ClinVar", "CLIN_risk_factor"),   # APOE e4
            record("19", 44908822, "rs7412", "C", ["T"], "ClinVar", "CLIN_benign"),
            record("1", 100, "rs1", "C", ["T"], "ClinVar", "CLIN_benign", "CLIN_likely_benign",
                   "CLIN_risk_factor", "CLIN_drug_response", "CLIN_other"),
            record("1", 200, "rs2", "C", ["T"], "ClinVar", "CLIN_benign", "CLIN_likely_benign",
                   "CLIN_uncertain_significance", "CLIN_not_provided"),
            record("1", 300, "rs3", "C", ["T"], "ClinVar", "CLIN_likely_pathogenic", "CLIN_protective",
                   "CLIN_association", "CLIN_pathogenic"),
            record("1", 400, "rs4", "C", ["T"], "ClinVar", "CLIN_confers_sensitivity",
                   "CLIN_histocompatibility"),
            record("1", 500, "rs5", "C", ["T"], "ClinVar", "CLIN_uncertain_significance"),
            record("1", 600, "rs6", "C", ["T"])]
    rows = [aw(i, "T", "alt", "hom", 0.1, f"rs{i}") for i in range(1, 7)]
    rows += [aw(10, "C", "alt", "hom", -1.0, "rs429358"), aw(11, "T", "alt", "het", 0.5, "rs7412")]
    w = build(tmp_path, rows, recs)["weights"]
    got = dict(zip(w["rsid"], w["clin_sig"]))
    assert got == {"rs429358": "risk_factor", "rs7412": "benign", "rs1": "drug_response",
                   "rs2": "uncertain_significance", "rs3": "pathogenic", "rs4": "other",
                   "rs5": "uncertain_significance", "rs6": None}
    row = w.filter(pl.col("rsid") == "rs3").row(0, named=True)
    assert (row["pathogenic"], row["likely_pathogenic"], row["benign"]) == (True, True, False)
    assert ensembl_set.clin_sig_tier("CLIN_conflicting_interpretations_of_pathogenicity") == "conflicting"
    assert ensembl_set.clin_sig_tier("CLIN_established_risk_allele") == "risk_factor"


def test_clin_sig_on_the_demo_records_through_the_converter(tmp_path):
    """The demo mirror's records (Ensembl's release-114 header with its 13 CLIN_* flags),
    converted by vcf2parquet: APOE e4 carries CLIN_risk_factor and is shown as such."""
    import synthvcf
    import vcf2parquet

    planted = [v for v in lmfixture.DEMO_VARIANTS if v[0] == "19"]
    vcf = synthvcf.write_vcf(tmp_path / "homo_sapiens-chr19.vcf.gz", 20, seed=3, chrom="19",
                             extra_records=planted)
    parquet = tmp_path / "ens" / "homo_sapiens-chr19.parquet"
    vcf2parquet.convert(vcf, parquet, threads=1)
    out = build(tmp_path, files=[str(parquet)])
    w = out["weights"]
    assert out["facts"]["clin_flags"] == len(synthvcf.CLIN_FLAGS)
    got = {r["rsid"]: r["clin_sig"] for r in w.iter_rows(named=True)}
    assert got["rs429358"] == "risk_factor" and got["rs7412"] == "benign"
    assert got["rs13181"] == "likely_benign"  # CLIN_benign + CLIN_likely_benign
    e4 = w.filter((pl.col("rsid") == "rs429358") & (pl.col("genotype") == ["C", "C"])).row(0, named=True)
    assert (e4["weight"], e4["state"], e4["pathogenic"], e4["benign"]) == (-1.0, "risk", False, False)


def test_het_spec_gives_the_two_bases(tmp_path):
    rows = [aw(1, "TC", "spec", "het", 0.3, "rs10"), aw(2, "CT", "spec", "het", 0.3, "rs10")]
    out = build(tmp_path, rows, [record("1", 100, "rs10", "C", ["T"])])
    assert genotypes(out["weights"], "rs10") == {("C", "T"): 0.3}
    assert out["unresolved"].height == 0  # row 2 merged into row 1 (same genotype, same weight)
    assert out["facts"]["merged_rows"] == 1


def test_het_alt_on_multiallelic_record_pairs_with_every_other_allele(tmp_path):
    rows = [aw(1, "G", "alt", "het", 0.2, "rs20"), aw(2, "C", "ref", "hom", 0.4, "rs20")]
    out = build(tmp_path, rows, [record("1", 200, "rs20", "C", ["G", "T"])])
    assert genotypes(out["weights"], "rs20") == {("C", "G"): 0.2, ("G", "T"): 0.2, ("C", "C"): 0.4}


def test_het_alt_with_indel_alleles_keeps_allele_strings(tmp_path):
    rows = [aw(1, "C", "ref", "het", 0.1, "rs21")]
    out = build(tmp_path, rows, [record("1", 210, "rs21", "C", ["CAT", "T"])])
    assert genotypes(out["weights"], "rs21") == {("C", "CAT"): 0.1, ("C", "T"): 0.1}


def test_strand_flip_for_every_zygosity(tmp_path):
    # record G>A: curated T is A on the forward strand
    rows = [aw(1, "T", "alt", "het", 0.1, "rs30"), aw(2, "T", "alt", "hom", 0.2, "rs30"),
            # spec TC on a record A>G: the forward genotype is AG
            aw(3, "TC", "spec", "het", 0.3, "rs31"),
            # ref hom T on a record A>C: AA
            aw(4, "T", "ref", "hom", 0.4, "rs32"),
            # forward wins when both strands fit (A/T record): A stays A
            aw(5, "A", "alt", "hom", 0.5, "rs33")]
    recs = [record("1", 300, "rs30", "G", ["A"]), record("1", 310, "rs31", "A", ["G"]),
            record("1", 320, "rs32", "A", ["C"]), record("1", 330, "rs33", "T", ["A"])]
    out = build(tmp_path, rows, recs)
    w = out["weights"]
    assert genotypes(w, "rs30") == {("A", "G"): 0.1, ("A", "A"): 0.2}
    assert genotypes(w, "rs31") == {("A", "G"): 0.3}
    assert genotypes(w, "rs32") == {("A", "A"): 0.4}
    assert genotypes(w, "rs33") == {("A", "A"): 0.5}
    assert out["unresolved"].height == 0


def test_allele_matching_neither_strand_is_reported(tmp_path):
    rows = [aw(1, "C", "alt", "het", 0.1, "rs40"), aw(2, "GA", "spec", "het", 0.1, "rs41")]
    recs = [record("1", 400, "rs40", "A", ["T"]), record("1", 410, "rs41", "A", ["C"])]
    out = build(tmp_path, rows, recs)
    assert out["weights"].height == 0
    assert reasons(out["unresolved"]) == {1: "allele_matches_neither_strand",
                                          2: "allele_matches_neither_strand"}
    assert "1:400 A>T" in out["unresolved"]["detail"][0]


def test_rsid_at_several_records_gives_one_row_per_record(tmp_path):
    rows = [aw(1, "G", "alt", "hom", 0.3, "rs50"), aw(2, "G", "alt", "het", 0.15, "rs50")]
    recs = [record("2", 500, "rs50", "A", ["G"]), record("3", 900, "rs50", "A", ["G", "C"])]
    w = build(tmp_path, rows, recs)["weights"]
    got = sorted((r["chrom"], r["start"], tuple(r["genotype"]), r["weight"]) for r in w.iter_rows(named=True))
    assert got == [("2", 500, ("A", "G"), 0.15), ("2", 500, ("G", "G"), 0.3),
                   ("3", 900, ("A", "G"), 0.15), ("3", 900, ("C", "G"), 0.15), ("3", 900, ("G", "G"), 0.3)]
    assert w.select("rsid", "genotype", "chrom", "start").is_duplicated().sum() == 0


def test_same_genotype_from_several_records_at_one_position_is_reported(tmp_path):
    # two records of rs90 at 1:900 (C>T and C>T,G): both give C/T; one row is published
    rows = [aw(1, "T", "alt", "het", 0.2, "rs90"), aw(2, "T", "alt", "het", 0.2, "rs90")]
    recs = [record("1", 900, "rs90", "C", ["T", "G"]), record("1", 900, "rs90", "C", ["T"])]
    out = build(tmp_path, rows, recs)
    w = out["weights"]
    assert genotypes(w, "rs90") == {("C", "T"): 0.2, ("G", "T"): 0.2}
    assert w.filter(pl.col("genotype") == ["C", "T"])["alts"].to_list() == [["T"]]
    c = out["conflicts"]
    assert set(c["reason"]) == {"several_records"}
    got = sorted((r["curated_id"], r["record"], r["record_published"], r["genotype"]) for r in c.iter_rows(named=True))
    assert got == [(1, "1:900 C>T", True, "C/T"), (1, "1:900 C>T,G", False, "C/T"),
                   (2, "1:900 C>T", True, "C/T"), (2, "1:900 C>T,G", False, "C/T")]
    assert out["unresolved"].height == 0 and out["facts"]["published_claims"] == 2


def test_resolved_at_one_record_is_not_unresolved(tmp_path):
    rows = [aw(1, "C", "alt", "hom", 0.3, "rs51")]
    recs = [record("2", 510, "rs51", "A", ["T"]), record("5", 510, "rs51", "A", ["C"])]
    out = build(tmp_path, rows, recs)
    assert genotypes(out["weights"], "rs51") == {("C", "C"): 0.3}
    assert out["unresolved"].height == 0


def test_rsids_missing_from_ensembl_are_unresolved(tmp_path):
    rows = APOE_ROWS + [aw(10, "G", "alt", "het", 0.1, "rs999999"), aw(11, "G", "alt", "hom", 0.2, "rs999999")]
    out = build(tmp_path, rows, APOE)
    assert reasons(out["unresolved"]) == {10: "rsid_not_in_ensembl", 11: "rsid_not_in_ensembl"}
    assert "rs999999" not in out["weights"]["rsid"].to_list()


def test_malformed_and_unknown_rows(tmp_path):
    rows = [aw(1, "del", "alt", "het", 0.1, "rs60"), aw(2, "AG", "alt", "hom", 0.1, "rs60"),
            aw(3, "A", "spec", "het", 0.1, "rs60"), aw(4, "AA", "spec", "het", 0.1, "rs60"),
            aw(5, "A", "weird", "het", 0.1, "rs60"), aw(6, "A", "alt", None, 0.1, "rs60"),
            aw(7, "A", "alt", "het", 0.1, "IRS1"), aw(8, "A", "alt", "het", 0.1, ""),
            aw(9, "a", "alt", "hom", 0.7, " rs60 ")]  # case and spaces are tolerated
    out = build(tmp_path, rows, [record("1", 600, "rs60", "G", ["A"])])
    assert reasons(out["unresolved"]) == {1: "malformed_allele", 2: "malformed_allele", 3: "malformed_allele",
                                          4: "malformed_allele", 5: "unknown_state", 6: "unknown_zygosity",
                                          7: "not_an_rsid", 8: "not_an_rsid"}
    assert genotypes(out["weights"], "rs60") == {("A", "A"): 0.7}


def test_het_without_another_allele_is_unresolved(tmp_path):
    rows = [aw(1, "G", "alt", "het", 0.1, "rs70")]
    out = build(tmp_path, rows, [record("1", 700, "rs70", "G", ["."])])
    assert reasons(out["unresolved"]) == {1: "no_allele_to_pair_with"}


def test_conflicting_weights_are_reported_not_published(tmp_path):
    # record G>A: curated A hom and T hom (T flips to A) give AA with different weights
    rows = [aw(1, "A", "alt", "hom", 0.4, "rs80"), aw(2, "T", "alt", "hom", 0.1, "rs80"),
            aw(3, "A", "alt", "het", 0.2, "rs80")]
    out = build(tmp_path, rows, [record("1", 800, "rs80", "G", ["A"])])
    assert genotypes(out["weights"], "rs80") == {("A", "G"): 0.2}
    c = out["conflicts"]
    assert sorted(c["curated_id"].to_list()) == [1, 2]
    assert set(c["genotype"]) == {"A/A"} and set(c["start"]) == {800}
    assert set(c["reason"]) == {"conflicting_weights"} and set(c["record_published"]) == {False}
    assert reasons(out["unresolved"]) == {1: "conflicting_weights", 2: "conflicting_weights"}


def test_state_from_weight_sign_and_missing_weight_is_unresolved(tmp_path):
    rows = [aw(1, "T", "alt", "hom", 0.5, "rs7412"), aw(2, "T", "alt", "het", 0.0, "rs7412"),
            aw(3, "C", "alt", "hom", -0.25, "rs429358"), aw(4, "C", "alt", "het", None, "rs429358")]
    out = build(tmp_path, rows, APOE)
    w = out["weights"]
    got = {(r["rsid"], tuple(r["genotype"])): r["state"] for r in w.iter_rows(named=True)}
    assert got == {("rs7412", ("T", "T")): "protective", ("rs7412", ("C", "T")): "neutral",
                   ("rs429358", ("C", "C")): "risk"}
    assert w["weight"].null_count() == 0
    assert reasons(out["unresolved"]) == {4: "missing_weight"}


def test_missing_weight_does_not_make_a_conflict(tmp_path):
    # a NULL-weight duplicate of a weighted row is unresolved; the weighted row is published
    rows = [aw(1, "T", "alt", "hom", 0.5, "rs7412"), aw(2, "T", "alt", "hom", None, "rs7412")]
    out = build(tmp_path, rows, APOE)
    assert genotypes(out["weights"], "rs7412") == {("T", "T"): 0.5}
    assert out["conflicts"].height == 0 and reasons(out["unresolved"]) == {2: "missing_weight"}


STUDIES = [  # (id, location, design, conclusions, association, quickref, year, pmid, identifier, gene, population)
    (1, "19q13.32", "d1", "old significant", "significant", "A (1994)", 1994, "1", "rs7412", 1, 2),
    (2, "19q13.32", "d2", "recent non-significant", "non-significant", "B (2020)", 2020, "2", "rs7412", 1, 1),
    (3, "19q13.32", "d3", "recent significant", "significant", "C (2013)", 2013, "3", "rs7412", 1, 4),
    (4, "19q13.32", "d4", "tie, lower id", "significant", "D (2010)", 2010, "4", "rs429358", 1, 3),
    (5, "19q13.32", "d5", "tie, higher id", "significant", "E (2010)", 2010, "5", "rs429358", 1, 3),
    (6, "19q13.32", "d5", "tie, higher id", "significant", "E (2010)", 2010, "5", "rs429358", 1, 3),
    (7, "2q36", "d7", "gene label", "significant", "F (2001)", 2001, "7", "IRS1", 6, 3),
    (8, "2q36", "d8", "hgvs label", "significant", "G (2002)", 2002, "8", "-1031T/C", 6, 3),
    (9, "", "d9", "empty identifier", "", "H (2003)", 2003, "9", "", 0, 1),
    (10, None, "d10", "null identifier", None, "I (2004)", 2004, "10", None, None, 1),
    (11, "19q13.32", "d11", "no gene symbol", "significant", "J (2005)", 2005, "11", "rs7412", 0, 1),
]


def test_conclusion_is_chosen_deterministically(tmp_path):
    out = build(tmp_path, APOE_ROWS, APOE, variants=STUDIES)
    w = out["weights"]
    assert set(w.filter(pl.col("rsid") == "rs7412")["conclusion"]) == {"recent significant"}
    assert set(w.filter(pl.col("rsid") == "rs429358")["conclusion"]) == {"tie, lower id"}
    again = build(tmp_path / "rev", list(reversed(APOE_ROWS)), list(reversed(APOE)),
                  variants=list(reversed(STUDIES)))["weights"]
    assert again.equals(w)


def test_annotations_columns_distinct_and_rsids_only(tmp_path):
    rows = APOE_ROWS + [aw(9, "A", "alt", "het", 0.1, "IRS1", category=2),
                        aw(10, "G", "alt", "het", 0.1, "rs5555", category=10)]
    a = build(tmp_path, rows, APOE, variants=STUDIES)["annotations"]
    assert a.columns == ["rsid", "module", "gene", "phenotype", "category"]
    assert a.is_duplicated().sum() == 0
    got = {tuple(r.values()) for r in a.iter_rows(named=True)}
    assert got == {("rs7412", "longevitymap", "APOE", "longevity", "other"),
                   ("rs429358", "longevitymap", "APOE", "longevity", "other"),
                   ("rs5555", "longevitymap", None, "longevity", "inflammation")}


def test_studies_columns_distinct_and_rsids_only(tmp_path):
    s = build(tmp_path, APOE_ROWS, APOE, variants=STUDIES)["studies"]
    assert s.columns == ["rsid", "module", "pmid", "population", "p_value", "conclusion", "study_design"]
    assert s.schema["p_value"] == pl.String and s["p_value"].null_count() == s.height
    assert s.is_duplicated().sum() == 0
    assert s.height == 6  # studies 1-5 and 11 (6 duplicates 5); labels, empty and NULL left out
    assert set(s["rsid"]) == {"rs7412", "rs429358"}
    assert set(s.filter(pl.col("pmid") == "3")["population"]) == {"Danish"}


def test_demo_curation_against_demo_records(tmp_path):
    recs = [record(c, p, i, r, a.split(","), *(["ClinVar"] if "ClinVar_" in info else []))
            for c, p, i, r, a, info in lmfixture.DEMO_VARIANTS]
    out = build(tmp_path, None, recs)
    w = out["weights"]
    assert genotypes(w, "rs7412") == {("C", "T"): 0.5, ("T", "T"): 1.0}
    assert genotypes(w, "rs429358") == {("C", "T"): -0.5, ("C", "C"): -1.0}
    assert genotypes(w, "rs13181") == {("G", "T"): 0.085}                       # spec AC, reverse strand
    assert genotypes(w, "rs2826891") == {("A", "G"): 0.065, ("A", "A"): 0.13}   # T, reverse strand
    assert genotypes(w, "rs2838809") == {("C", "G"): 0.175, ("G", "T"): 0.175, ("C", "C"): 0.35}
    assert set(out["unresolved"]["reason"]) == {"rsid_not_in_ensembl", "not_an_rsid"}
    published = assert_every_row_accounted_for(tmp_path / "lm.sqlite", w, out["unresolved"], out["facts"])
    assert 4 in published and out["facts"]["merged_rows"] >= 1  # the duplicate of row 0, merged


# --------------------------------------------------------------------------- the script

def good_inputs(tmp: Path) -> tuple[Path, Path]:
    sqlite = lmfixture.build_sqlite(tmp / "in" / "lm.sqlite")
    ens = write_ensembl(tmp / "in" / "ens" / "homo_sapiens-chr19.parquet", APOE)
    return sqlite, ens


def outputs_of(cache: Path) -> list[str]:
    d = cache / "modules" / "longevitymap"
    return sorted(p.name for p in d.iterdir() if p.name in OUTPUTS) if d.exists() else []


def test_cli_fetch_local_and_build(tmp_path):
    sqlite, ens = good_inputs(tmp_path)
    cache = tmp_path / "cache"
    r = run_script("fetch", cache=cache, LONGEVITYMAP_URL=str(sqlite))
    assert r.returncode == 0, r.stderr
    copied = cache / "modules" / "longevitymap" / "longevitymap.sqlite"
    assert copied.read_bytes() == sqlite.read_bytes()
    r = run_script("build", cache=cache, ENSEMBL_PARQUET=str(ens.parent))
    assert r.returncode == 0, r.stderr
    assert outputs_of(cache) == sorted(OUTPUTS)
    assert "weights.parquet" in r.stdout and "unresolved.tsv" in r.stdout
    w = pl.read_parquet(cache / "modules" / "longevitymap" / "weights.parquet")
    assert w.schema["start"] == pl.UInt32 and w.height == 4
    steps = (cache / "modules" / "longevitymap" / "steps.jsonl").read_text().splitlines()
    assert [s.split('"step": ')[1].split(",")[0] for s in steps] == ['"longevitymap-fetch"', '"longevitymap"']
    assert '"outcome": "ok"' in steps[-1] and '"weights_rows": 4' in steps[-1]
    leftovers = [p.name for p in copied.parent.iterdir() if p.name.startswith(".") or p.suffix in (".tmp", ".download")]
    assert leftovers == []


def test_cli_not_a_sqlite_file(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_text("<html>404 not found</html>\n")
    cache = tmp_path / "cache"
    r = run_script("fetch", cache=cache, LONGEVITYMAP_URL=str(bad))
    assert r.returncode == 1
    assert "not a SQLite file" in r.stderr and str(bad) in r.stderr
    assert not (cache / "modules" / "longevitymap" / "longevitymap.sqlite").exists()
    assert not list((cache / "modules" / "longevitymap").glob("*.download"))
    _, ens = good_inputs(tmp_path)
    r = run_script("build", "--sqlite", str(bad), "--ensembl", str(ens), cache=cache)
    assert r.returncode == 1 and "not a SQLite file" in r.stderr
    assert outputs_of(cache) == []


@pytest.mark.parametrize("sql, message", [
    ("DROP TABLE categories", "table categories is missing"),
    ("ALTER TABLE variant DROP COLUMN quickpubmed", "table variant lacks column(s) quickpubmed"),
    ("ALTER TABLE allele_weights RENAME COLUMN zygosity TO zyg", "table allele_weights lacks column(s) zygosity"),
])
def test_cli_missing_table_or_column(tmp_path, sql, message):
    sqlite, ens = good_inputs(tmp_path)
    with sqlite3.connect(sqlite) as con:
        con.execute(sql)
    con.close()
    cache = tmp_path / "cache"
    r = run_script("build", "--sqlite", str(sqlite), "--ensembl", str(ens), cache=cache)
    assert r.returncode == 1 and message in r.stderr, r.stderr
    assert outputs_of(cache) == []


@pytest.mark.parametrize("drop", ["id", "ref", "alts"])
def test_cli_parquet_without_required_column_leaves_no_outputs(tmp_path, drop):
    sqlite, ens = good_inputs(tmp_path)
    cache = tmp_path / "cache"
    assert run_script("build", "--sqlite", str(sqlite), "--ensembl", str(ens), cache=cache).returncode == 0
    assert outputs_of(cache) == sorted(OUTPUTS)
    broken = write_ensembl(tmp_path / "broken" / "x.parquet", APOE, drop=(drop,))
    r = run_script("build", "--sqlite", str(sqlite), "--ensembl", str(broken), cache=cache)
    assert r.returncode == 1
    assert f"lacks column(s) {drop}" in r.stderr and str(broken) in r.stderr
    assert outputs_of(cache) == []  # the previous outputs are gone too: they no longer match


def write_manifest(d: Path, names: list[str]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "vcf_urls.json").write_text(json.dumps([f"https://ftp.example.org/vcf/{d.name}/{n}" for n in names]))


def test_default_set_is_the_discovery_manifests_parquet_files(tmp_path):
    cfg = cfg_for(tmp_path)
    d = tmp_path / "cache" / "ensembl" / "homo_sapiens"
    write_manifest(d, ["homo_sapiens-chr19.vcf.gz", "homo_sapiens-chrX.vcf.gz"])
    real = [write_ensembl(d / f"homo_sapiens-chr{c}.parquet", APOE) for c in ("19", "X")]
    # Not part of the set: the older Dagster tool's interrupted conversion and index
    # files, our own temporaries, a file no manifest names.
    write_ensembl(d / "homo_sapiens-chr3.tmp.parquet", APOE)
    write_ensembl(d / "homo_sapiens-chr1.parquet", APOE)
    write_ensembl(d / "rsid_index.parquet", APOE)
    (d / ".homo_sapiens-chr1.parquet.123.tmp").write_bytes(b"partial")
    (d / "vcf").mkdir()
    write_ensembl(d / "vcf" / "homo_sapiens-chr2.parquet", APOE)
    assert ensembl_set.ensembl_files(cfg) == sorted(str(p) for p in real)
    # A manifest file whose Parquet is missing or older than its VCF stops, naming it;
    # a VCF deleted after its conversion does not (chr19 has none here).
    (d / "vcf" / "homo_sapiens-chrX.vcf.gz").write_bytes(b"downloaded again")
    os.utime(real[1], (1e9, 1e9))
    with pytest.raises(common.Failure, match=r"homo_sapiens-chrX\.parquet \(older than its VCF"):
        ensembl_set.ensembl_files(cfg)
    real[1].unlink()
    with pytest.raises(common.Failure, match=r"1 of the 2 files .*homo_sapiens-chrX\.parquet \(no Parquet\)"):
        ensembl_set.ensembl_files(cfg)

    mouse = config.load(env={"CACHE_DIR": str(tmp_path / "cache"), "SPECIES": "mus_musculus"})
    m = tmp_path / "cache" / "ensembl" / "mus_musculus"
    write_manifest(m, ["mus_musculus.vcf.gz"])
    single = write_ensembl(m / "mus_musculus.parquet", APOE)
    assert ensembl_set.ensembl_files(mouse) == [str(single)]
    # an explicit directory or glob takes every regular *.parquet file it matches
    (d / "homo_sapiens-chr 4.parquet").write_bytes(b"unsafe name")
    assert ensembl_set.ensembl_files(cfg, str(m)) == [str(single)]
    assert str(d / "homo_sapiens-chr 4.parquet") in ensembl_set.ensembl_files(cfg, str(d))


def test_default_set_without_a_manifest_says_what_to_run(tmp_path):
    with pytest.raises(common.Failure, match=r"vcf_urls\.json: no discovery manifest.*ENSEMBL_PARQUET"):
        ensembl_set.ensembl_files(cfg_for(tmp_path))


def test_cli_no_parquet_files(tmp_path):
    sqlite, _ = good_inputs(tmp_path)
    r = run_script("build", "--sqlite", str(sqlite), cache=tmp_path / "cache",
                   ENSEMBL_PARQUET=str(tmp_path / "nowhere" / "*.parquet"))
    assert r.returncode == 1 and "no Ensembl Parquet file matches" in r.stderr


# --------------------------------------------------------------------------- make

def built(result) -> bool:
    return "modules.py build longevitymap" in result.stdout


def test_make_longevitymap_rebuilds_exactly_when_an_input_changed(tmp_path):
    sqlite, ens = good_inputs(tmp_path)
    extra = write_ensembl(ens.parent / "homo_sapiens-chr21.parquet", [record("21", 5, "rs21", "C", ["T"])])
    cache = tmp_path / "cache"
    past = time.time() - 3600
    for f in (sqlite, ens, extra):
        os.utime(f, (past, past))
    env = {"ENSEMBL_PARQUET": str(ens.parent / "*.parquet"), "LONGEVITYMAP_URL": str(sqlite)}
    first = make("longevitymap", cache=cache, **env)
    assert first.returncode == 0, output(first)
    assert built(first) and outputs_of(cache) == sorted(OUTPUTS)
    assert not (cache / "ensembl").exists()  # ENSEMBL_PARQUET set: no discovery on a cold cache
    weights = cache / "modules" / "longevitymap" / "weights.parquet"
    assert pl.read_parquet(weights).height == 4
    stamp = weights.stat().st_mtime_ns

    again = make("longevitymap", cache=cache, **env)
    assert again.returncode == 0, output(again)
    assert not built(again) and "fetch" not in again.stdout and weights.stat().st_mtime_ns == stamp
    assert again.seconds < 1.0

    # A changed Ensembl file rebuilds the tables (not the SQLite).
    os.utime(ens)
    third = make("longevitymap", cache=cache, **env)
    assert third.returncode == 0, output(third)
    assert built(third) and "modules.py fetch longevitymap" not in third.stdout
    assert weights.stat().st_mtime_ns != stamp

    # A changed local curation is copied again and rebuilds.
    os.utime(sqlite)
    fourth = make("longevitymap", cache=cache, **env)
    assert "modules.py fetch longevitymap" in fourth.stdout and built(fourth)

    # CURATOR changed: rebuilt with the new curator; the same again: nothing.
    curated = make("longevitymap", cache=cache, CURATOR="Someone Else", **env)
    assert curated.returncode == 0 and built(curated), output(curated)
    assert set(pl.read_parquet(weights)["curator"]) == {"Someone Else"}
    same = make("longevitymap", cache=cache, CURATOR="Someone Else", **env)
    assert same.returncode == 0 and not built(same), output(same)

    # A file removed from the set (the others unchanged, older than the outputs): rebuilt.
    inputs = (cache / "modules" / "longevitymap" / "inputs.txt").read_text()
    assert str(extra) in inputs and "curator = Someone Else" in inputs
    extra.unlink()
    removed = make("longevitymap", cache=cache, CURATOR="Someone Else", **env)
    assert removed.returncode == 0 and built(removed), output(removed)
    assert str(extra) not in removed.stdout
    steps = (cache / "modules" / "longevitymap" / "steps.jsonl").read_text().splitlines()
    assert '"ensembl_files": 1,' in steps[-1]

    # ENSEMBL_PARQUET pointed at another set whose files are older than the outputs: rebuilt.
    other = write_ensembl(tmp_path / "older" / "homo_sapiens-chr19.parquet", APOE[:1])
    os.utime(other, (past, past))
    moved = make("longevitymap", cache=cache, CURATOR="Someone Else",
                 ENSEMBL_PARQUET=str(other.parent), LONGEVITYMAP_URL=str(sqlite))
    assert moved.returncode == 0 and built(moved), output(moved)
    assert set(pl.read_parquet(weights)["rsid"]) == {"rs7412"}


def test_make_longevitymap_invalid_sqlite_leaves_nothing(tmp_path):
    _, ens = good_inputs(tmp_path)
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)  # the magic, then garbage
    cache = tmp_path / "cache"
    r = make("longevitymap", cache=cache, ENSEMBL_PARQUET=str(ens), LONGEVITYMAP_URL=str(bad))
    assert r.returncode != 0
    assert str(bad) in r.stderr
    d = cache / "modules" / "longevitymap"
    assert not (d / "longevitymap.sqlite").exists() and outputs_of(cache) == []


# --------------------------------------------------------------------------- the real curation

needs_real = pytest.mark.skipif(not REAL_SQLITE.exists(), reason=f"{REAL_SQLITE} not present")


@needs_real
def test_real_curation_apoe_anchors_and_every_row_accounted_for(tmp_path):
    recs = [record(c, p, i, r, a.split(","), *(["ClinVar"] if "ClinVar_" in info else []))
            for c, p, i, r, a, info in lmfixture.DEMO_VARIANTS]
    ens = write_ensembl(tmp_path / "ens" / "homo_sapiens-chr19.parquet", recs)
    results, facts = modbuild.build_tables(cfg_for(tmp_path), LM, REAL_SQLITE, [str(ens)])
    w = pl.from_arrow(results["weights.parquet"])
    unresolved = pl.from_arrow(results["unresolved.tsv"])
    assert genotypes(w, "rs7412") == {("C", "T"): 0.5, ("T", "T"): 1.0}
    assert genotypes(w, "rs429358") == {("C", "T"): -0.5, ("C", "C"): -1.0}
    with sqlite3.connect(f"file:{REAL_SQLITE}?mode=ro", uri=True) as con:
        curated = {r[0] for r in con.execute("SELECT rsid FROM allele_weights")}
        n_rows = con.execute("SELECT count(*) FROM allele_weights").fetchone()[0]
    con.close()
    assert curated <= set(w["rsid"]) | set(unresolved["rsid"])
    assert facts["source_rows"] == facts["claims"] == n_rows
    assert w.select("rsid", "genotype", "chrom", "start").is_duplicated().sum() == 0
    published = assert_every_row_accounted_for(REAL_SQLITE, w, unresolved, facts)
    assert len(published) >= 4 and unresolved.height > 0  # both sides non-empty


# --------------------------------------------------------------------------- over HTTP, bench

def test_cli_fetch_over_http_with_resume_and_bad_answers(tmp_path):
    from mirror import MirrorServer

    root = tmp_path / "www"
    sqlite = lmfixture.build_sqlite(root / "longevitymap.sqlite")
    (root / "page.html").write_text("<html>not a database</html>\n")
    cache = tmp_path / "cache"
    dest = cache / "modules" / "longevitymap" / "longevitymap.sqlite"
    with MirrorServer(root) as server:
        url = f"{server.url}/longevitymap.sqlite"
        server.add_fault("/longevitymap.sqlite", "cut", after=10_000)  # the first answer stops early
        r = run_script("fetch", cache=cache, LONGEVITYMAP_URL=url, RETRIES="2", RETRY_BACKOFF="0.01")
        assert r.returncode == 0, r.stderr
        assert dest.read_bytes() == sqlite.read_bytes()
        ranges = [q["range"] for q in server.requests_for("/longevitymap.sqlite") if q["method"] == "GET"]
        assert ranges == [None, "bytes=10000-"]  # resumed, not downloaded again
        step = (cache / "modules" / "longevitymap" / "steps.jsonl").read_text().splitlines()[-1]
        assert '"outcome": "ok"' in step and f'"bytes": {sqlite.stat().st_size}' in step
        dest.unlink()
        r = run_script("fetch", cache=cache, LONGEVITYMAP_URL=f"{server.url}/page.html", RETRIES="0")
        assert r.returncode == 1 and "not a SQLite file" in r.stderr and "/page.html" in r.stderr
        r = run_script("fetch", cache=cache, LONGEVITYMAP_URL=f"{server.url}/missing.sqlite", RETRIES="0")
        assert r.returncode == 1 and "404" in r.stderr
        # part of the file, then nothing more (a transfer that makes progress is retried on)
        server.add_fault("/longevitymap.sqlite", "cut", after=10_000)
        server.add_fault("/longevitymap.sqlite", "cut", after=0, times=None)
        r = run_script("fetch", cache=cache, LONGEVITYMAP_URL=url, RETRIES="1", RETRY_BACKOFF="0.01")
        assert r.returncode == 1 and url in r.stderr
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir() if p.name != "steps.jsonl"] == []  # no partial files


def test_bench_data_is_deterministic_and_run_reports(tmp_path):
    import json

    import lmbench

    a = lmbench.write_set(tmp_path / "a", 3000, 2)
    b = lmbench.write_set(tmp_path / "b", 3000, 2)
    assert a["rows"] == b["rows"] == 3000 + len(lmfixture.DEMO_VARIANTS)
    for name in ("homo_sapiens-chr19.parquet", "homo_sapiens-chr21.parquet"):
        assert pl.read_parquet(tmp_path / "a" / name).equals(pl.read_parquet(tmp_path / "b" / name))
    df = pl.read_parquet(tmp_path / "a" / "*.parquet")
    assert df.schema["start"] == pl.UInt32 and df.schema["alts"] == pl.List(pl.String)
    assert df["id"].n_unique() == df.height
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "dev" / "lmbench.py"), "run", str(tmp_path / "a"),
                        str(tmp_path / "out" / "result.json")], capture_output=True, text=True, timeout=120,
                       env={k: v for k, v in os.environ.items() if k not in ("ENSEMBL_PARQUET", "CACHE_DIR")})
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "out" / "result.json").read_text())
    assert result["ensembl_rows"] == a["rows"] and result["weights_rows"] > 0
    assert result["peak_rss_bytes"] > 10_000_000 and result["seconds"] > 0

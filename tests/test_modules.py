"""The annotation modules, each a folder of sql/modules/: every module on its synthetic
source (scripts/dev/modfixtures.py, the awkward rows included) and, when ../shared is
there, on its real source; the build's checks; the credits (sources.parquet); fetching
and validating sources and logos; adding a module as a folder made here, with no Python;
and the species refusal. Real DuckDB, real make runs; expected values worked out by hand
from the fixtures' rows and the rules."""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

import common
import config
import lmfixture
import modbuild
import modfixtures
import moduledef
import modules as runner
from helpers import ROOT, demo_record, make, output, record, write_ensembl

MODULES = ["coronary", "drugs", "lipidmetabolism", "longevitymap", "superhuman", "vo2max"]
SHARED = Path("/work/shared/data") if Path("/work/shared/data").exists() else ROOT.parent / "shared" / "data"
REAL = {"longevitymap": SHARED / "longevitymap.sqlite", "lipidmetabolism": SHARED / "modules" / "lipid_metabolism.sqlite",
        "vo2max": SHARED / "modules" / "vo2max.sqlite", "superhuman": SHARED / "modules" / "superhuman.sqlite",
        "coronary": SHARED / "modules" / "coronary.sqlite", "drugs": SHARED / "modules" / "annotation_tab.tsv"}
needs_shared = pytest.mark.skipif(not (SHARED / "modules").exists(), reason=f"{SHARED}/modules not present")


def cfg_for(tmp: Path, **env: str) -> dict:
    return config.load(env={"CACHE_DIR": str(tmp / "cache"), **env})


def demo_set(tmp: Path) -> str:
    """The demo mirror's records of every module (and LongevityMap's) as one Parquet file."""
    return str(write_ensembl(tmp / "ens" / "homo_sapiens-chr19.parquet",
                             [demo_record(v) for v in lmfixture.DEMO_VARIANTS + modfixtures.DEMO_VARIANTS]))


def build(tmp: Path, name: str, files: list[str] | None = None, source: Path | None = None, **rows):
    module = moduledef.get(name)
    source = source or modfixtures.build_source(name, tmp / "src" / name / module.source["file"], **rows)
    cfg = cfg_for(tmp)
    results, facts = modbuild.build_tables(cfg, module, source, files or [demo_set(tmp)])
    frames = {n.split(".")[0]: pl.from_arrow(t) for n, t in results.items()}
    return frames, facts, results, cfg, module, source


def genotypes(weights: pl.DataFrame, value: str = "weight") -> dict:
    return {(r["rsid"], tuple(r["genotype"])): r[value] for r in weights.iter_rows(named=True)}


def accounted(frames: dict, facts: dict) -> None:
    """Every claim is published or in unresolved.tsv, never both; no source row vanished."""
    left = frames["unresolved"]["id"].to_list()
    assert len(set(left)) == len(left) and facts["claims"] - len(left) == facts["published_claims"]
    assert facts["lost_rows"] == 0 and facts["source_rows"] > 0


# --- each module on its synthetic source ------------------------------------------------------

EXPECTED = {
    "lipidmetabolism": (
        {("rs429358", ("C", "C")): -1.0, ("rs429358", ("C", "T")): -0.5, ("rs429358", ("T", "T")): 0.0,
         ("rs7412", ("C", "T")): 0.5, ("rs268", ("A", "A")): 0.0, ("rs268", ("A", "G")): -0.5,
         ("rs328", ("C", "G")): -0.4, ("rs328", ("G", "G")): -0.8},
        [("rs7412", "TT", "weight_not_a_number"), (None, "AA", "not_an_rsid"), ("rs708272", "GA", "rsid_not_in_ensembl"),
         ("rs268", "GG", "conflicting_weights"), ("rs268", "GG", "conflicting_weights"),
         ("rs429358", "CA", "allele_matches_neither_strand"), ("rs328", "CC", "missing_weight"),
         ("rs7412", "AGT", "malformed_allele")],
        {"conflicting_weights", "palindromic"}),
    "vo2max": (
        {("rs17602729", ("G", "G")): 0.0, ("rs17602729", ("A", "G")): -0.5, ("rs17602729", ("A", "A")): -1.0,
         ("rs884736", ("T", "T")): 0.0, ("rs884736", ("A", "T")): 0.0, ("rs884736", ("A", "A")): -1.0},
        [("rs10921078", "GG", "rsid_not_in_ensembl"), (None, "GG", "not_an_rsid"),
         ("rs884736", "TA", "weight_not_a_number")],
        {"palindromic"}),
    "coronary": (
        {("rs4977574", ("A", "A")): 0.0, ("rs4977574", ("G", "G")): -1.54, ("rs17672135", ("T", "T")): -0.3,
         ("rs17672135", ("C", "T")): 0.0, ("rs17672135", ("C", "C")): 0.2},
        [("rs4977574", "AG", "conflicting_weights"), ("rs4977574", "GA", "conflicting_weights"),
         ("rs1333049", "CC", "rsid_not_in_ensembl"), ("", "TT", "not_an_rsid"),
         ("rs17672135", "TC", "weight_not_a_number")],
        {"conflicting_weights"}),
    "superhuman": (
        {("rs1007211", ("A", "A")): "protective", ("rs1007211", ("A", "G")): "protective",
         ("rs10180721", ("T", "T")): "protective", ("rs1012788466", ("A", "A")): "protective",
         ("rs1012788466", ("A", "C")): "protective", ("rs1012788466", ("T", "T")): "protective",
         ("rs5082", ("C", "C")): "protective"},
        [("rs113359739", "-/-", "malformed_allele"), (None, "T/T", "not_an_rsid"), (None, "G/T", "not_an_rsid"),
         ("rs999999001", "A/A", "rsid_not_in_ensembl"), ("rs1007211", "unknown", "unknown_zygosity"),
         ("rs1007211", "NULL/NULL", "malformed_allele")],
        {"palindromic"}),
    "drugs": (
        {("rs9839376", ("C", "C")): "significant", ("rs9839376", ("C", "T")): "not_significant",
         ("rs9839376", ("T", "T")): "not_significant", ("rs2231142", ("G", "T")): "significant",
         ("rs2231142", ("T", "T")): "significant", ("rs6280", ("C", "T")): "significant",
         ("rs6280", ("T", "T")): "significant"},
        [("rs1799752", "del/del", "indel_or_repeat"), ("rs57098334", "(AGCCCACCC)12", "indel_or_repeat"),
         ("rs28386840", "AT", "conflicting_states"), ("rs28386840", "TT", "conflicting_states"),
         ("rs28386840", "AT", "conflicting_states"), ("rs28386840", "TT", "conflicting_states"),
         ("rs6280", "T", "significance_not_stated"),
         ("rs123", "Patients with the variant need lower doses.", "no_genotype_in_sentence"),
         ("CYP2D6*4", "CYP2D6*4", "not_an_rsid")],
        {"conflicting_states"}),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_module_on_its_synthetic_source(tmp_path, name):
    frames, facts, results, cfg, module, _ = build(tmp_path, name)
    weighted, unresolved, clashes = EXPECTED[name]
    w = frames["weights"]
    assert genotypes(w, "weight" if module.weighted else "state") == weighted
    if not module.weighted:
        assert w["weight"].null_count() == w.height  # no numeric weight: NULL, as the references
    key = lambda t: tuple("" if x is None else x for x in t)  # noqa: E731
    got = sorted(((r["rsid"], r["allele"], r["reason"]) for r in frames["unresolved"].iter_rows(named=True)), key=key)
    assert got == sorted(unresolved, key=key)
    assert set(frames["conflicts"]["reason"]) == clashes
    assert set(w["module"]) == {name} and w.schema["start"] == pl.UInt32
    assert all(g == sorted(g) and len(g) == 2 for g in w["genotype"].to_list())
    accounted(frames, facts)
    modbuild.check(cfg, module, results, facts)  # the build's checks pass
    assert set(w["rsid"]) <= set(frames["annotations"]["rsid"]) and frames["studies"].height > 0


def test_synthetic_sources_merge_reverse_strand_and_palindromes(tmp_path):
    """The rules behind the expected rows: a reverse-strand genotype is published on the
    forward strand and merges with the same genotype at the same weight; an A/T or C/G
    record gives palindromic rows, published as given and listed."""
    frames, facts, *_ = build(tmp_path, "coronary")
    assert facts["merged_rows"] == 1  # AA (reverse strand) merged into TT, same weight -0.3
    frames, facts, *_ = build(tmp_path / "l", "lipidmetabolism")
    pal = frames["conflicts"].filter(pl.col("reason") == "palindromic")
    assert set(zip(pal["rsid"], pal["genotype"])) == {("rs328", "G/G")}
    assert set(pal["record_published"]) == {True}  # listed, and published
    frames, facts, *_ = build(tmp_path / "d", "drugs")
    # "Allele A" on the record T>C: A is T on the forward strand; a carrier of T: T/T and C/T
    assert frames["weights"].filter(pl.col("rsid") == "rs6280")["conclusion"].str.contains("Allele A").all()
    assert facts["claims_by_mode"] == {"carrier": 6, "genotype": 9}


def test_superhuman_derives_genotypes_from_zygosity(tmp_path):
    rows = [("rs1", "G1", None, "C", "T", None, "hom", "ability", "", None),
            ("rs2", "G2", None, "C", "T", None, "het", "ability", "", None),
            ("rs3", "G3", None, "A", "G", None, "both", "", "harm", None),
            ("rs4", "G4", None, None, None, "GA", "hom", "ability", "", None)]
    recs = [record("1", 10, "rs1", "C", ["T"]), record("1", 20, "rs2", "C", ["T"]),
            record("1", 30, "rs3", "A", ["G"]), record("1", 40, "rs4", "A", ["G"])]
    files = [str(write_ensembl(tmp_path / "e.parquet", recs))]
    frames, facts, *_ = build(tmp_path, "superhuman", files=files, rows=rows)
    assert genotypes(frames["weights"], "state") == {
        ("rs1", ("T", "T")): "protective", ("rs2", ("C", "T")): "protective", ("rs3", ("G", "G")): "risk",
        ("rs3", ("A", "G")): "risk", ("rs4", ("A", "G")): "protective"}
    assert facts["source_rows"] == 4 and facts["claims"] == 5 and frames["unresolved"].height == 0


# --- each module on its real source ---------------------------------------------------------

def source_rows(name: str, path: Path) -> list:
    if name == "drugs":
        with open(path, newline="") as fh:
            return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    table = moduledef.get(name).source["claims"]
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(f'SELECT * FROM "{table}"')]
    finally:
        con.close()


@needs_shared
@pytest.mark.parametrize("name", MODULES)
def test_each_module_on_its_real_source(tmp_path, name):
    """The real curation against Ensembl-shaped records of its own rsids (the alleles it
    names; the real Ensembl set is not here): every source row accounted for, the checks
    pass, and the counts the issue names hold."""
    path = REAL[name]
    rows = source_rows(name, path)
    files = [str(write_ensembl(tmp_path / "ens.parquet", [dict(r, flags=set()) for r in
                                                          modfixtures.implied_records(name, path)]))]
    frames, facts, results, cfg, module, _ = build(tmp_path, name, files=files, source=path)
    assert facts["source_rows"] == len(rows)
    accounted(frames, facts)
    modbuild.check(cfg, module, results, facts)
    assert frames["weights"].height > 0 and frames["annotations"].height > 0
    reasons = Counter(frames["unresolved"]["reason"])
    if name == "superhuman":  # 1,241 of 1,243 rows give no genotype: derived from zygosity
        assert len(rows) == 1243 and sum(1 for r in rows if r["genotype"]) == 2
        derived = sum(1 if r["genotype"] else {"hom": 1, "het": 1, "both": 2}.get((r["zygosity"] or "").strip(), 1)
                      for r in rows)
        assert facts["claims"] == derived
    if name == "drugs":
        forms, bad, bad_rows = Counter(), 0, 0
        for r in rows:
            g = re.match(r"Genotypes? (.+?) (is|are) ", r["Sentence"])
            a = re.match(r"Alleles? (\S+) (is|are) ", r["Sentence"])
            items = [x.strip() for x in g.group(1).split("+")] if g else [a.group(1)] if a else [None]
            forms["genotype" if g else "allele" if a else "none"] += 1
            wrong = sum(1 for x in items if x is not None and not re.fullmatch(r"[ACGT]/?[ACGT]" if g else "[ACGT]", x))
            bad, bad_rows = bad + wrong, bad_rows + bool(wrong)
        assert len(rows) == 1063 and forms["allele"] == 604 and forms["none"] == 0
        assert facts["claims_by_mode"]["carrier"] == forms["allele"]
        assert reasons["indel_or_repeat"] == bad and bad_rows == 25  # "about 25" rows (27 genotypes/alleles)
        assert reasons["significance_not_stated"] == sum(1 for r in rows if r["Significance"] == "not stated")
        assert frames["weights"].filter(pl.col("genotype").list.contains("?")).height == 0  # no placeholder
    if module.weighted:
        assert frames["weights"]["weight"].null_count() == 0


# --- the build step: everything written, the checks, the credits -----------------------------

def test_build_step_writes_tables_credits_manifest_and_metadata(tmp_path):
    cfg = cfg_for(tmp_path)
    module = moduledef.get("drugs")
    source = modfixtures.build_source("drugs", tmp_path / "src" / "annotation_tab.tsv")
    runner.build_step(cfg, module, [demo_set(tmp_path)], source)
    out = module.dir(cfg)
    assert sorted(p.name for p in out.iterdir()) == sorted(moduledef.OUTPUTS)
    credits = pl.read_parquet(out / "sources.parquet")
    assert credits["source"].to_list() == ["just_drugs", "pharmgkb"]
    assert credits["license"].to_list() == ["AGPL-3.0", "CC-BY-SA-4.0"] and set(credits["layer"]) == {"annotation"}
    sha = hashlib.sha256(source.read_bytes()).hexdigest()
    assert set(credits["source_sha256"]) == {sha} and set(credits["module"]) == {"drugs"}
    # the default URL is module.toml's, pinned to a commit: recorded
    assert set(credits["source_commit"]) == {module.source["commit"]}
    assert set(credits["source_url"]) == {module.source["url"]} and credits["citation"].null_count() == 0
    # another URL: its commit is unknown, a local path is named by its file name only
    cfg2 = cfg_for(tmp_path / "b", DRUGS_URL=str(source))
    runner.build_step(cfg2, module, [demo_set(tmp_path)], source)
    credits = pl.read_parquet(module.dir(cfg2) / "sources.parquet")
    assert set(credits["source_commit"]) == {None} and set(credits["source_url"]) == {"file:annotation_tab.tsv"}
    assert str(tmp_path) not in (module.dir(cfg2) / "sources.parquet").read_bytes().decode("latin-1")


def test_checks_fail_the_build_with_a_sentence(tmp_path):
    """A module folder whose annotations miss an rsid of its weights, and whose curated.sql
    drops a source row: the build's checks name both, and nothing is written."""
    folder = tmp_path / "modules" / "coronary"
    shutil.copytree(moduledef.get("coronary").folder, folder)
    text = (folder / "annotations.sql").read_text()
    (folder / "annotations.sql").write_text(text.replace("WHERE regexp_full_match(rsid, 'rs[0-9]+')",
                                                         "WHERE regexp_full_match(rsid, 'rs[0-9]+') AND rsid <> 'rs4977574'"))
    text = (folder / "curated.sql").read_text()
    (folder / "curated.sql").write_text(text.replace("    FROM coronary_disease\n", "    FROM coronary_disease\n    WHERE _row > 1\n", 1))
    module = moduledef.load("coronary", folder)
    cfg = cfg_for(tmp_path)
    source = modfixtures.build_source("coronary", tmp_path / "src" / "coronary.sqlite")
    with pytest.raises(common.Failure) as caught:
        runner.build_step(cfg, module, [demo_set(tmp_path)], source)
    message = str(caught.value)
    assert "coronary: the build's checks failed" in message and "rs4977574 have no annotations row" in message
    assert "1 row(s) of the source table coronary_disease gave no claim" in message
    assert not module.dir(cfg).exists() or not any(module.dir(cfg).iterdir())


def test_module_toml_that_lacks_what_the_runner_needs_is_named(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(moduledef.get("vo2max").folder, folder)
    toml = (folder / "module.toml").read_text()
    (folder / "module.toml").write_text(toml.replace('weighted = true\n', ''))
    with pytest.raises(common.Failure, match=r"m/module.toml: needs weighted = true or false"):
        moduledef.load("m", folder)
    (folder / "module.toml").write_text(toml.replace('claims = "genotype_weights"', 'claims = "nothing"'))
    with pytest.raises(common.Failure, match=r"claims 'nothing' is not one of its tables"):
        moduledef.load("m", folder)


# --- fetching: validated sources and logos ------------------------------------------------------

def run_modules(*args: str, cache: Path, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.endswith(("_URL", "_LOGO")) and k not in ("CACHE_DIR", "SPECIES")}
    full.update(CACHE_DIR=str(cache), **env)
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "modules.py"), *args], capture_output=True,
                          text=True, env=full, timeout=120)


def test_fetch_checks_the_source_and_the_logo(tmp_path):
    cache = tmp_path / "cache"
    tsv = modfixtures.build_source("drugs", tmp_path / "in" / "annotation_tab.tsv")
    logo = tmp_path / "in" / "Drugs.PNG"
    logo.write_bytes(modfixtures.png())
    r = run_modules("fetch", "drugs", cache=cache, DRUGS_URL=str(tsv), DRUGS_LOGO=str(logo))
    assert r.returncode == 0, r.stderr
    folder = cache / "modules" / "drugs"
    assert (folder / "annotation_tab.tsv").read_bytes() == tsv.read_bytes()
    assert (folder / "logo.png").read_bytes() == logo.read_bytes()
    # a TSV without the expected header, a logo that is no image: refused, nothing replaced
    wrong = tmp_path / "in" / "other.tsv"
    wrong.write_text("rsid\tgenotype\nrs1\tAA\n")
    r = run_modules("fetch", "drugs", cache=cache, DRUGS_URL=str(wrong), DRUGS_LOGO=str(logo))
    assert r.returncode == 1 and f"{wrong}: not the expected TSV" in r.stderr and "'Sentence'" in r.stderr
    assert (folder / "annotation_tab.tsv").read_bytes() == tsv.read_bytes()
    fake = tmp_path / "in" / "logo.jpg"
    fake.write_text("<svg/>")
    r = run_modules("fetch", "drugs", cache=cache, DRUGS_URL=str(tsv), DRUGS_LOGO=str(fake))
    assert r.returncode == 1 and f"{fake}: not a PNG or JPEG image" in r.stderr
    r = run_modules("fetch", "drugs", cache=cache, DRUGS_URL=str(tsv), DRUGS_LOGO="none")
    assert r.returncode == 0 and not list(folder.glob("logo.*"))  # no logo: an old one is not kept
    not_sqlite = tmp_path / "in" / "page.sqlite"
    not_sqlite.write_text("<html>404</html>")
    r = run_modules("fetch", "coronary", cache=cache, CORONARY_URL=str(not_sqlite), CORONARY_LOGO="none")
    assert r.returncode == 1 and "not a SQLite file" in r.stderr
    assert not (cache / "modules" / "coronary" / "coronary.sqlite").exists()
    assert [p.name for p in (cache / "modules" / "coronary").iterdir()] == ["steps.jsonl"]


def test_make_fetches_again_when_the_source_setting_changes(tmp_path):
    cache = tmp_path / "cache"
    a = modfixtures.build_source("vo2max", tmp_path / "a" / "vo2max.sqlite")
    b = modfixtures.build_source("vo2max", tmp_path / "b" / "vo2max.sqlite", weights=modfixtures.VO2MAX_WEIGHTS[:3])
    target = str(cache / "modules" / "vo2max" / "vo2max.sqlite")
    first = make(target, cache=cache, VO2MAX_URL=str(a))
    assert first.returncode == 0 and "modules.py fetch vo2max" in first.stdout, output(first)
    same = make(target, cache=cache, VO2MAX_URL=str(a))
    assert same.returncode == 0 and "modules.py fetch" not in same.stdout, output(same)
    other = make(target, cache=cache, VO2MAX_URL=str(b))
    assert other.returncode == 0 and "modules.py fetch vo2max" in other.stdout, output(other)
    assert Path(target).read_bytes() == b.read_bytes()


# --- adding a module: a folder, no Python ------------------------------------------------------

def project_copy(tmp: Path) -> Path:
    repo = tmp / "repo"
    repo.mkdir()
    for name in ("Makefile", "config.toml", "pyproject.toml", "uv.lock"):
        shutil.copy2(ROOT / name, repo / name)
    for name in ("scripts", "sql"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / ".venv").symlink_to(ROOT / ".venv")
    return repo


BLOOD_TOML = '''
title = "Blood groups"
description = "ABO and RhD variants"
report_title = "Blood groups"
icon = "droplet"
color = "#aa0000"
version = "0.1.0"
curator = "a test"
method = "made up"
species = ["homo_sapiens"]
genome_build = "GRCh38"
weighted = true
license = "CC0-1.0"
logo = ""

[source]
url = "{url}"
kind = "tsv"
file = "blood.tsv"
claims = "blood"

[source.tables.blood]
snp = "string"
call = "string"
score = "string"
gene = "string"

[params]
phenotype = "blood_group"

[[credits]]
source = "blood test data"
license = "CC0-1.0"
'''
BLOOD_CURATED = """-- curated: one claim per row, the genotype as written.
WITH source AS (SELECT _row, snp, call, score FROM blood),
final AS (
    SELECT _row AS curated_id, _row AS source_row, snp AS rsid_raw, call AS allele_raw, lower(trim(snp)) AS rsid,
           'genotype' AS mode, [substr(call, 1, 1), substr(call, 2, 1)] AS bases, score AS weight_raw,
           CAST(NULL AS VARCHAR) AS state, CAST(NULL AS VARCHAR) AS priority, CAST(NULL AS VARCHAR) AS conclusion,
           CAST(NULL AS VARCHAR) AS finding, CAST(NULL AS VARCHAR) AS problem, CAST(NULL AS VARCHAR) AS problem_detail
    FROM source
)
SELECT * FROM final ORDER BY curated_id
"""
BLOOD_ANNOTATIONS = """WITH source AS (SELECT DISTINCT lower(trim(snp)) AS rsid, gene FROM blood),
final AS (SELECT rsid, CAST($module AS VARCHAR) AS module, gene, CAST($phenotype AS VARCHAR) AS phenotype,
                 CAST(NULL AS VARCHAR) AS category FROM source)
SELECT * FROM final ORDER BY rsid
"""
BLOOD_STUDIES = """WITH source AS (SELECT DISTINCT lower(trim(snp)) AS rsid FROM blood),
final AS (SELECT rsid, CAST($module AS VARCHAR) AS module, CAST(NULL AS VARCHAR) AS pmid,
                 CAST(NULL AS VARCHAR) AS population, CAST(NULL AS VARCHAR) AS p_value,
                 'made up' AS conclusion, CAST(NULL AS VARCHAR) AS study_design FROM source)
SELECT * FROM final ORDER BY rsid
"""


def test_adding_a_module_takes_a_folder_and_no_python(tmp_path):
    """A seventh module, made here as a folder (module.toml + three SQL files) in a copy of
    the project: `make bloodgroup` fetches, builds and checks it; status lists it; a broken
    folder fails the build with the check's sentence and leaves no outputs."""
    repo = project_copy(tmp_path)
    tsv = tmp_path / "blood.tsv"
    tsv.write_text("snp\tcall\tscore\tgene\nrs8176719\tGT\t0.5\tABO\nrs8176719\tTT\t1\tABO\n"
                   "rs590787\tCC\tlow\tRHD\n")
    folder = repo / "sql" / "modules" / "bloodgroup"
    folder.mkdir()
    (folder / "module.toml").write_text(BLOOD_TOML.format(url=tsv))
    (folder / "curated.sql").write_text(BLOOD_CURATED)
    (folder / "annotations.sql").write_text(BLOOD_ANNOTATIONS)
    (folder / "studies.sql").write_text(BLOOD_STUDIES)
    ens = write_ensembl(tmp_path / "ens" / "homo_sapiens-chr9.parquet", [record("9", 1000, "rs8176719", "T", ["G"]),
                                                                         record("1", 500, "rs590787", "C", ["T"])])
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update(CACHE_DIR=str(cache), ENSEMBL_PARQUET=str(ens))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["make", "-C", str(repo), "--no-print-directory", *args], env=env,
                              capture_output=True, text=True, timeout=300)

    assert "bloodgroup" in run("help").stdout
    r = run("bloodgroup")
    assert r.returncode == 0, r.stdout + r.stderr
    out = cache / "modules" / "bloodgroup"
    assert sorted(p.name for p in out.iterdir() if p.name in moduledef.OUTPUTS) == sorted(moduledef.OUTPUTS)
    w = pl.read_parquet(out / "weights.parquet")
    assert genotypes(w) == {("rs8176719", ("G", "T")): 0.5, ("rs8176719", ("T", "T")): 1.0}
    assert set(w["state"]) == {"protective"} and set(w["curator"]) == {"a test"}
    unresolved = list(csv.DictReader((out / "unresolved.tsv").open(), delimiter="\t"))
    assert [(u["rsid"], u["reason"]) for u in unresolved] == [("rs590787", "weight_not_a_number")]
    assert '"version": "0.1.0"' in (out / "manifest.json").read_text()
    assert run("modules", "MODULES=bloodgroup").stdout.count("modules.py build") == 0  # up to date
    status = subprocess.run([sys.executable, str(repo / "scripts" / "status.py"), "--json"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and '"modules/bloodgroup/weights.parquet"' in status.stdout
    # broken: its annotations lose an rsid of its weights
    (folder / "annotations.sql").write_text(BLOOD_ANNOTATIONS.replace("FROM blood)", "FROM blood WHERE gene <> 'ABO')"))
    r = run("bloodgroup")
    assert r.returncode != 0 and "bloodgroup: the build's checks failed" in r.stderr
    assert "rs8176719 have no annotations row" in r.stderr
    assert not [p.name for p in out.iterdir() if p.name in moduledef.OUTPUTS]  # none left, not even the old ones


# --- the species refusal --------------------------------------------------------------------------

def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_a_module_goal_for_a_species_without_a_curation_is_refused(tmp_path, server):
    """`make longevitymap SPECIES=mus_musculus` (and every other module goal, file goal and
    step) is refused with a sentence before anything under modules/ is written: every file
    there stays byte-identical (and untouched). `make` for the mouse builds no module."""
    cache = tmp_path / "cache"
    sources = {f"{m.upper()}_URL": str(modfixtures.build_source(m, tmp_path / "src" / m / moduledef.get(m).source["file"]))
               for m in MODULES}
    ens = demo_set(tmp_path)
    built = make("modules", cache=cache, ENSEMBL_PARQUET=ens, **sources, **{f"{m.upper()}_LOGO": "none" for m in MODULES})
    assert built.returncode == 0, output(built)
    before = snapshot(cache / "modules")
    assert len(before) > 6 * len(moduledef.OUTPUTS)
    goals = [["longevitymap"], ["modules"], ["coronary", "drugs"], [str(cache / "modules/drugs/weights.parquet")],
             [str(cache / "modules/hits/mus_musculus.hits.parquet")]]
    for goal in goals:
        r = make(*goal, "SPECIES=mus_musculus", cache=cache, server=server, ENSEMBL_PARQUET=ens, **sources)
        assert r.returncode != 0, goal
        assert "refusing to build" in r.stderr and "mus_musculus" in r.stderr and "homo_sapiens" in r.stderr, r.stderr
        assert "nothing under" in r.stderr and snapshot(cache / "modules") == before, goal
    for step in (["build", "coronary", "--ensembl", ens], ["fetch", "drugs"], ["inputs", "vo2max"],
                 ["hits", ens, str(cache / "modules" / "hits" / "mus_musculus.hits.parquet")]):
        r = run_modules(*step, cache=cache, SPECIES="mus_musculus", **sources)
        assert r.returncode == 1 and "refusing to build" in r.stderr and "SPECIES=homo_sapiens" in r.stderr, step
        assert snapshot(cache / "modules") == before, step
    # the whole pipeline for the mouse: its set, and no module
    r = make("SPECIES=mus_musculus", cache=cache, server=server, ENSEMBL_PARQUET="", **sources)
    assert r.returncode == 0, output(r)
    assert "no module curates mus_musculus" in r.stdout and snapshot(cache / "modules") == before
    assert (cache / "ensembl" / "mus_musculus" / "mus_musculus.parquet").is_file()

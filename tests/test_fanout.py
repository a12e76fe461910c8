"""Fan-out over CI runners: `make targets-json`, single-file goals from an empty cache, the
modules as map (one hits file per Parquet file, for every module) / reduce (each module's
tables from the hits), and the discovery failure message. Real `make` runs against the
mini mirror on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

import config
import duck
import ensembl_set
import lmfixture
import mirror
import modbuild
import modfixtures
import moduledef
from helpers import demo_record, make, output, write_ensembl

HUMAN = ["homo_sapiens-chr19", "homo_sapiens-chr21", "homo_sapiens-chrMT", "homo_sapiens-chrX"]
TABLES = sorted(moduledef.OUTPUTS)
MODULES = sorted(n for n in moduledef.all_modules() if n in modfixtures.BUILDERS)  # those the mirror serves


def lm_env(server) -> dict:
    """Every module's source (and logo) on the mirror."""
    return mirror.module_env(server.url)


def plan(server, cache: Path) -> dict:
    r = make("-s", "targets-json", cache=cache, server=server)
    assert r.returncode == 0, output(r)
    return json.loads(r.stdout)  # stdout is the JSON document alone


def test_targets_json_lists_the_manifest_from_an_empty_cache(server, tmp_path):
    cache = tmp_path / "cache"
    r = make("targets-json", cache=cache, server=server)  # not even -s: stdout is still JSON only
    assert r.returncode == 0, output(r)
    doc = json.loads(r.stdout)
    assert "discover" in r.stderr and server.url in r.stderr  # discovery ran, its output on stderr
    assert doc["species"] == "homo_sapiens" and doc["base_url"] == server.url + "/"
    assert set(doc["modules"]) == set(moduledef.all_modules())  # the human set: every module, so hits
    files = doc["files"]
    assert [f["stem"] for f in files] == HUMAN
    sums = dict(line.split()[2:3] + [" ".join(line.split()[:2])]
                for line in (cache / "ensembl/homo_sapiens/CHECKSUMS").read_text().splitlines()
                if len(line.split()) == 3)
    for f in files:
        assert f["url"] == f"{server.url}/homo_sapiens/{f['name']}"
        assert int(f["checksum"].split()[0]) == int(sums[f["name"]].split()[0])
        assert f["vcf"] == f"ensembl/homo_sapiens/vcf/{f['name']}"
        assert f["parquet"] == f"ensembl/homo_sapiens/{f['stem']}.parquet"
        assert f["target"] == str(cache / f["parquet"])
        assert f["hits_target"] == str(cache / f["hits"]) and f["hits"] == f"modules/hits/{f['stem']}.hits.parquet"
    # a second call answers from the manifest, without the network
    before = len(server.log)
    assert plan(server, cache) == doc and len(server.log) == before


def test_single_file_goal_from_empty_cache_matches_make_parquet(server, tmp_path):
    whole = tmp_path / "whole"
    r = make("parquet", cache=whole, server=server)
    assert r.returncode == 0, output(r)
    leg = tmp_path / "leg"
    entry = plan(server, tmp_path / "planner")["files"][1]
    target = str(leg / entry["parquet"])
    r = make(target, str(leg / entry["hits"]), cache=leg, server=server, **lm_env(server))
    assert r.returncode == 0, output(r)
    assert (leg / entry["vcf"]).is_file()  # the VCF is kept (not an intermediate)
    assert (leg / entry["parquet"]).read_bytes() == (whole / entry["parquet"]).read_bytes()
    assert (leg / entry["hits"]).is_file()
    built = sorted(p.name for p in (leg / "ensembl/homo_sapiens").glob("*.parquet"))
    assert built == [f"{entry['stem']}.parquet"]  # that one file only
    again = make(target, cache=leg, server=server)
    assert again.returncode == 0 and "vcf2parquet" not in again.stdout, output(again)


def test_file_goal_rediscovers_when_base_url_changed(mirror_site, tmp_path):
    cache = tmp_path / "cache"
    target = str(cache / "ensembl/homo_sapiens/homo_sapiens-chr21.parquet")
    with mirror.MirrorServer(mirror_site) as first, mirror.MirrorServer(mirror_site) as second:
        assert make(target, cache=cache, server=first).returncode == 0
        (cache / "ensembl/homo_sapiens/homo_sapiens-chr21.parquet").unlink()
        (cache / "ensembl/homo_sapiens/vcf/homo_sapiens-chr21.vcf.gz").unlink()
        r = make(target, cache=cache, server=second)
        assert r.returncode == 0, output(r)
        assert [q["path"] for q in second.log][:2] == ["/homo_sapiens/", "/homo_sapiens/CHECKSUMS"]
        assert any(q["path"].endswith("chr21.vcf.gz") for q in second.log)


@pytest.mark.parametrize("goals", [["parquet"], ["download", "parquet", "modules"], ["targets-json"],
                                   ["{cache}/ensembl/homo_sapiens/homo_sapiens-chr21.parquet"]])
def test_failed_discovery_shows_only_the_real_error(tmp_path, goals):
    cache = tmp_path / "cache"
    r = make(*[g.format(cache=cache) for g in goals], "BASE_URL=http://127.0.0.1:9/",
             cache=cache, RETRIES="0")
    assert r.returncode != 0
    assert "No such file or directory" not in output(r)
    assert "http://127.0.0.1:9/homo_sapiens/: cannot connect" in r.stderr
    assert r.stderr.count("cannot connect") == 1  # discovery tried once, not again by a sub-make
    assert "discovery of homo_sapiens at http://127.0.0.1:9/ failed" in r.stderr
    assert not r.stdout.strip().startswith("{")
    assert not list(cache.rglob("*.parquet")) and not (cache / "ensembl/homo_sapiens/vcf_files.mk").exists()


# ------------------------------------------------------------------ modules: map / reduce

def tables_of(directory: Path) -> dict[str, bytes]:
    return {name: (directory / name).read_bytes() for name in TABLES}


def test_hits_give_the_same_tables_as_the_whole_set_for_every_module(tmp_path):
    """In process: each module's outputs from the per-file hits (one map step for all
    modules) are byte for byte those from the whole set, also when a flag column is in only
    part of the set and a file has no hit."""
    cfg = config.load(env={"CACHE_DIR": str(tmp_path / "cache")})
    records = [demo_record(v) for v in lmfixture.DEMO_VARIANTS + modfixtures.DEMO_VARIANTS]
    ens = tmp_path / "ens"
    files = [write_ensembl(ens / "homo_sapiens-chr19.parquet", [r for r in records if r["chrom"] == "19"]),
             write_ensembl(ens / "homo_sapiens-chr21.parquet", [r for r in records if r["chrom"] == "21"],
                           clinvar=None, drop=("CLIN_benign",)),
             write_ensembl(ens / "homo_sapiens-chrX.parquet", [r for r in records if r["chrom"] == "X"]),
             write_ensembl(ens / "homo_sapiens-chr2.parquet", [demo_record(("2", 9, "rs1", "A", "G", "x"))])]
    modules = [moduledef.get(m) for m in MODULES]
    sources = [(m, modfixtures.build_source(m.name, tmp_path / "src" / m.name / m.source["file"])) for m in modules]
    hit_files = []
    for f in files:
        table, rows = modbuild.make_hits(cfg, sources, str(f))
        assert rows == pq.read_metadata(f).num_rows
        out = tmp_path / "hits" / f"{f.stem}.hits.parquet"
        duck.write_outputs(out.parent, {out.name: table})
        hit_files.append(str(out))
    assert pq.read_metadata(hit_files[3]).num_rows == 0  # no curated rsid: an empty file with the columns
    assert "ClinVar_202502" in pq.read_schema(hit_files[0]).names
    assert "CLIN_benign" not in pq.read_schema(hit_files[1]).names
    assert pq.read_metadata(hit_files[0]).metadata[b"hits_modules"] == ",".join(MODULES).encode()
    # every curated rsid of every module that is in the set is in some hits file
    hit_ids = {i for f in hit_files for i in pq.read_table(f, columns=["id"])["id"].to_pylist()}
    assert hit_ids == {r["id"] for r in records}
    for module, source in sources:
        whole, _ = modbuild.build_tables(cfg, module, source, [str(f) for f in files])
        reduced, _ = modbuild.build_tables(cfg, module, source, hit_files)
        assert set(reduced) == set(whole)
        duck.write_outputs(tmp_path / "whole" / module.name, whole)
        duck.write_outputs(tmp_path / "reduced" / module.name, reduced)
        for name in whole:
            a = (tmp_path / "whole" / module.name / name).read_bytes()
            assert a == (tmp_path / "reduced" / module.name / name).read_bytes(), (module.name, name)
        assert whole["weights.parquet"].num_rows > 0, module.name
    assert ensembl_set.ensembl_rows(hit_files) == ensembl_set.ensembl_rows([str(f) for f in files])


def test_make_modules_from_hits_equals_the_whole_set_and_runs_from_hits_alone(server, tmp_path):
    cache = tmp_path / "cache"
    r = make("download", "parquet", "modules", cache=cache, server=server, **lm_env(server))
    assert r.returncode == 0, output(r)
    hits_dir = cache / "modules" / "hits"
    assert sorted(p.name for p in hits_dir.glob("*.parquet")) == [f"{s}.hits.parquet" for s in HUMAN]
    from_hits = {m: tables_of(cache / "modules" / m) for m in MODULES}
    # the pre-change path: the tables straight from the whole Parquet set
    direct = tmp_path / "direct"
    r = make("modules", cache=direct, ENSEMBL_PARQUET=str(cache / "ensembl/homo_sapiens"), **lm_env(server))
    assert r.returncode == 0, output(r)
    for m in MODULES:
        assert tables_of(direct / "modules" / m) == from_hits[m], m
        assert pl.read_parquet(cache / "modules" / m / "weights.parquet").height > 0, m
    # a gather machine: the hits alone (no Ensembl Parquet, no discovery, no listing read)
    hits = tmp_path / "artifacts"
    shutil.copytree(hits_dir, hits, ignore=shutil.ignore_patterns("*.key"))
    gather = tmp_path / "gather"
    before = len(server.log)
    r = make("modules", f"MODULE_HITS={hits}", cache=gather, **lm_env(server))
    assert r.returncode == 0, output(r)
    assert not (gather / "ensembl").exists()
    assert all(q["path"].startswith("/modules/") for q in server.log[before:])  # the sources, nothing else
    for m in MODULES:
        assert tables_of(gather / "modules" / m) == from_hits[m], m
    again = make("modules", f"MODULE_HITS={hits}", cache=gather, **lm_env(server))
    assert again.returncode == 0 and "modules.py build" not in again.stdout, output(again)
    # LM_HITS, the variable's older name, still works
    older = make("longevitymap", f"LM_HITS={hits}", cache=gather, **lm_env(server))
    assert older.returncode == 0 and "modules.py" not in older.stdout, output(older)


def test_refresh_with_a_new_base_url_is_used_by_file_goals(mirror_site, tmp_path):
    """`make refresh` records the new BASE_URL in discovery.key: a file goal after it
    downloads from the refreshed listing without discovering again."""
    cache = tmp_path / "cache"
    target = str(cache / "ensembl/homo_sapiens/homo_sapiens-chr21.parquet")
    with mirror.MirrorServer(mirror_site) as first, mirror.MirrorServer(mirror_site) as second:
        assert make("targets-json", cache=cache, server=first).returncode == 0
        assert make("refresh", cache=cache, server=second).returncode == 0
        before = len(second.log)
        r = make(target, cache=cache, server=second)
        assert r.returncode == 0, output(r)
        assert [q["path"] for q in second.log[before:]] == ["/homo_sapiens/homo_sapiens-chr21.vcf.gz"]
        assert all(not q["path"].endswith(".vcf.gz") for q in first.log)

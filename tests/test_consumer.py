"""`make consumer-layout`: the built data laid out the way just-dna-lite reads it, checked
with the consumer's own file patterns (quoted from dna-seq/just-dna-lite at 88f0e0e): the
Ensembl set, and every module with what discovery and the report read."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import yaml

from helpers import make, output
from test_upload import SPECIES, build_modules, species_dir, write_variants

MODULES = ["coronary", "drugs", "lipidmetabolism", "longevitymap", "superhuman", "vo2max"]
# just-dna-lite's report_logic.load_module_credits reads these columns of sources.parquet
# (rows of layer "annotation"); hf_modules.MODULE_TABLES and _probe_module_at_path decide
# from manifest.json's artifact.files which tables a module has.
CREDIT_COLUMNS = ["source", "license", "license_url", "attribution", "notice", "dataset", "share_alike",
                  "commercial_use", "redistribution", "declared_use", "layer"]


def demo_module(cache: Path, tmp_path: Path) -> dict[str, Path]:
    """chr19 (with the APOE records at their positions) and chr21 Parquet files of the
    species, and every module built."""
    write_variants(species_dir(cache) / f"{SPECIES}-chr19.parquet", "19", ["rs7412", "rs429358"])
    write_variants(species_dir(cache) / f"{SPECIES}-chr21.parquet", "21", ["rs100"])
    path = species_dir(cache) / f"{SPECIES}-chr19.parquet"
    pl.read_parquet(path).with_columns(pl.Series("start", [44908822, 44908684], dtype=pl.UInt32),
                                       pl.Series("ref", ["C", "T"]), pl.Series("alt", ["T", "C"])).write_parquet(path)
    return build_modules(cache, tmp_path)


def probe(module_dir: Path) -> dict | None:
    """hf_modules._probe_module_at_path on a local folder (the consumer's discovery): the
    tables a module has come from manifest.json's artifact.files when it publishes one (it
    must validate, else the probe falls back); the logo and metadata file are probed."""
    manifest = json.loads((module_dir / "manifest.json").read_text()) if (module_dir / "manifest.json").exists() else None
    attested = {Path(e["name"]).name for e in manifest["artifact"]["files"]} if manifest else None

    def has(name: str) -> bool:
        return name in attested if attested is not None else (module_dir / name).exists()

    if not has("weights.parquet"):
        return None
    logo = next((module_dir / f"logo.{e}" for e in ("png", "jpg", "jpeg") if (module_dir / f"logo.{e}").exists()), None)
    meta = next((module_dir / n for n in ("metadata.json", "metadata.yaml") if (module_dir / n).exists()), None)
    return {t: has(f"{t}.parquet") for t in ("annotations", "studies", "sources")} | {
        "logo": logo, "metadata": meta, "version": manifest["identity"]["version"] if manifest else None}

ROOT = Path(__file__).resolve().parent.parent


def consumer_files_for(parquet_dir: Path, input_chroms: list[str]) -> list[str]:
    """just_dna_pipelines/annotation/logic.py, annotate_vcf_with_ensembl (Polars path):
    which files of `<cache>/ensembl_variations/data` it scans for a user VCF's chromosomes."""
    input_chroms_normalized = {c.lower().replace("chr", "") for c in input_chroms}
    relevant = []
    for p in parquet_dir.glob("*.parquet"):
        chrom_part = p.stem.lower().rsplit("-", 1)[-1].replace("chr", "")
        if chrom_part in input_chroms_normalized:
            relevant.append(p.name)
    return sorted(relevant)


def discovery(cache: Path, names: list[str], species: str = SPECIES) -> None:
    sdir = cache / "ensembl" / species
    sdir.mkdir(parents=True, exist_ok=True)
    (sdir / "vcf_urls.json").write_text(json.dumps([f"http://127.0.0.1:9/{species}/{n}" for n in names]))


def env_of(result) -> dict[str, str]:
    """The environment lines printed for just-dna-lite: two exports and `unset JUST_DNA_PIPELINES_ROOT`."""
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "unset JUST_DNA_PIPELINES_ROOT", result.stdout
    assert len(lines) == 3 and all(line.startswith("export ") for line in lines[:2]), result.stdout
    return dict(shlex.split(line)[1].split("=", 1) for line in lines[:2])


# just-dna-lite's settings as it ships them (the keys and values of its modules.yaml at
# 88f0e0e, written out here): what a consumer-layout must leave as they are.
SHIPPED = """
quality_filters: {pass_filters: [PASS, "."], min_depth: 10, min_qual: 20}
immutable_mode: {enabled: false, allow_zenodo_import: false}
registries:
  - {key: prod, label: Just-DNA Registry, url: "https://module-registry.just-dna.life", mode: prod,
     token_env: REGISTRY_TOKEN}
  - {key: polygon, label: Polygon (test), url: "https://module-polygon.just-dna.life", mode: test,
     token_env: REGISTRY_TOKEN_POLYGON}
ensembl_source: {repo_id: just-dna-seq/ensembl_variations}
sources: [{url: just-dna-seq/annotators, kind: collection}]
module_metadata:
  longevitymap: {title: Longevity Map, icon: heart-pulse}
  coronary: {title: Coronary, icon: heart}
  someothermodule: {title: A module it knows and we do not build, icon: dna}
"""


def consumer_settings(env: dict[str, str], shipped: Path) -> dict:
    """The settings just-dna-lite loads in ``env`` (module_config._default_config_path,
    _working_config_path, _load_config and _merge_config at 88f0e0e, restated): the defaults
    are <JUST_DNA_PIPELINES_ROOT>/modules.yaml when that file exists, else its own shipped
    file; the working copy JUST_DNA_MODULES_YAML, when there is one, is merged over them:
    sources by url and registries by key (the defaults' entries first), module_metadata by
    name, any other key replaced."""
    root = env.get("JUST_DNA_PIPELINES_ROOT")
    default = Path(root) / "modules.yaml" if root and (Path(root) / "modules.yaml").exists() else shipped
    merged = yaml.safe_load(default.read_text()) or {}
    working = Path(env["JUST_DNA_MODULES_YAML"]) if env.get("JUST_DNA_MODULES_YAML") else None
    if working is None or not working.exists():
        return merged
    for key, value in (yaml.safe_load(working.read_text()) or {}).items():
        if key in ("sources", "registries") and isinstance(value, list):
            field = "url" if key == "sources" else "key"
            by: dict = {}
            for entry in list(merged.get(key) or []) + value:
                by[str(entry.get(field) if isinstance(entry, dict) else entry)] = entry
            merged[key] = list(by.values())
        elif key == "module_metadata" and isinstance(value, dict):
            merged[key] = {**(merged.get(key) or {}), **value}
        else:
            merged[key] = value
    return merged


def shell_env(cache: Path, before: str = "") -> dict[str, str]:
    """The environment after `eval "$(make -s consumer-layout)"` in a shell (with ``before`` run first)."""
    script = f'{before}\neval "$(make -s -C {ROOT} consumer-layout CACHE_DIR={cache})"\nenv -0'
    r = subprocess.run(["bash", "-ec", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return dict(item.split("=", 1) for item in r.stdout.split("\0") if "=" in item)


def test_the_consumer_keeps_its_settings_and_its_state_stays_out_of_our_cache(tmp_path):
    """Issue 16 (2): our modules.yaml used to replace just-dna-lite's (no quality filters,
    registries shrunk to prod) and its state went into our cache. Now its own settings
    survive, with our local source added, and what it writes goes to its own directory."""
    cache = tmp_path / "cache"
    mdir = demo_module(cache, tmp_path)
    discovery(cache, [f"{SPECIES}-chr19.vcf.gz", f"{SPECIES}-chr21.vcf.gz"])
    shipped = tmp_path / "just-dna-lite" / "modules.yaml"  # its checkout's own file
    shipped.parent.mkdir()
    shipped.write_text(SHIPPED)
    env = shell_env(cache, before="export JUST_DNA_PIPELINES_ROOT=/left/over/from/an/older/layout")
    assert "JUST_DNA_PIPELINES_ROOT" not in env  # so it finds its own modules.yaml and data dirs

    ours = consumer_settings(env, shipped)
    theirs = yaml.safe_load(SHIPPED)
    for key in ("quality_filters", "registries", "immutable_mode", "ensembl_source"):
        assert ours[key] == theirs[key], key
    layout = cache / "just-dna-lite" / SPECIES
    assert ours["sources"] == theirs["sources"] + [{"url": str(layout / "modules"), "kind": "collection"}]
    assert ours["module_metadata"]["someothermodule"] == theirs["module_metadata"]["someothermodule"]
    assert ours["module_metadata"]["longevitymap"]["report_title"] == "Longevity Variants"  # ours added
    module = layout / "modules" / "longevitymap"
    assert os.stat(module / "weights.parquet").st_ino == os.stat(mdir["longevitymap"] / "weights.parquet").st_ino

    # Its state: <cache dir>/module_cache.version, <cache dir>/ensembl_variations/ensembl_variations.duckdb
    # beside the data it reads (resources.get_default_ensembl_cache_dir, module_cache._marker_path).
    state = Path(env["JUST_DNA_PIPELINES_CACHE_DIR"])
    assert cache not in state.parents and state != cache
    data = state / "ensembl_variations" / "data"
    assert sorted(p.name for p in data.glob("*.parquet")) == [f"{SPECIES}-chr19.parquet", f"{SPECIES}-chr21.parquet"]
    chr21 = f"{SPECIES}-chr21.parquet"
    assert os.stat(data / chr21).st_ino == os.stat(species_dir(cache) / chr21).st_ino
    (state / "module_cache.version").write_text("0.9")  # what the consumer writes, as it writes it
    (state / "ensembl_variations" / "ensembl_variations.duckdb").write_bytes(b"db")
    assert not list(cache.rglob("*.duckdb")) and not list(cache.rglob("module_cache.version"))
    working = Path(env["JUST_DNA_MODULES_YAML"])
    assert working.parent == state and not (layout / "modules.yaml").exists()

    # A module registered in just-dna-lite (it writes the working copy) survives the next run.
    conf = yaml.safe_load(working.read_text())
    conf["sources"].append({"url": "/home/me/my_modules", "kind": "collection"})
    conf["module_metadata"]["mine"] = {"title": "Mine"}
    working.write_text(yaml.safe_dump(conf))
    again = shell_env(cache)
    conf = yaml.safe_load(Path(again["JUST_DNA_MODULES_YAML"]).read_text())
    assert [s["url"] for s in conf["sources"]] == ["/home/me/my_modules", str(layout / "modules")]
    assert conf["module_metadata"]["mine"] == {"title": "Mine"}
    assert consumer_settings(again, shipped)["quality_filters"] == theirs["quality_filters"]

    # just-dna-lite's own downloaded data is never replaced by a link
    link = state / "ensembl_variations" / "data"
    link.unlink()
    link.mkdir()
    r = make("consumer-layout", cache=cache)
    assert r.returncode != 0 and f"{link} is just-dna-lite's own Ensembl data" in r.stderr
    assert link.is_dir() and not link.is_symlink()


def test_layout_matches_what_the_consumer_reads(tmp_path):
    cache = tmp_path / "cache"
    dirs = demo_module(cache, tmp_path)  # chr19 and chr21 Parquet + every module
    discovery(cache, [f"{SPECIES}-chr{c}.vcf.gz" for c in ("19", "21", "MT")])  # MT not built
    root = cache / "just-dna-lite" / SPECIES
    stray = root / "ensembl_variations" / "data" / "mus_musculus.parquet"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"PAR1 from an earlier layout PAR1")

    result = make("consumer-layout", cache=cache)
    assert result.returncode == 0, output(result)
    env = env_of(result)
    state = Path(f"{cache}-consumer") / SPECIES  # config consumer_dir: empty, so beside the cache
    assert env == {"JUST_DNA_PIPELINES_CACHE_DIR": str(state), "JUST_DNA_MODULES_YAML": str(state / "modules.yaml")}
    assert "homo_sapiens-chrMT.parquet" in result.stderr and "left out" in result.stderr

    # Ensembl: resources.get_default_ensembl_cache_dir -> $JUST_DNA_PIPELINES_CACHE_DIR/ensembl_variations,
    # get_ensembl_parquet_dir -> <that>/data with any *.parquet (here a link to our layout's data).
    data = Path(env["JUST_DNA_PIPELINES_CACHE_DIR"]) / "ensembl_variations" / "data"
    assert data.resolve() == root / "ensembl_variations" / "data"
    names = sorted(p.name for p in data.glob("*.parquet"))
    assert names == [f"{SPECIES}-chr19.parquet", f"{SPECIES}-chr21.parquet"]  # the stray one is gone
    for name in names:
        assert os.stat(data / name).st_ino == os.stat(species_dir(cache) / name).st_ino  # hard links
    # The Polars path picks the file of each user chromosome; chrM finds no file (Ensembl's MT).
    assert consumer_files_for(data, ["chr19", "21"]) == names
    assert consumer_files_for(data, ["chrM"]) == []
    assert consumer_files_for(data, ["MT"]) == []  # not built here, so not laid out
    # The DuckDB path: duckdb_assets.build_duckdb_from_parquet's view, joined as logic.py joins.
    con = duckdb.connect()
    con.execute(f"CREATE VIEW ensembl_variations AS SELECT * FROM read_parquet('{data / '*.parquet'}', "
                "hive_partitioning=false, union_by_name=true)")
    user = pl.DataFrame({"chrom": ["19", "19"], "start": pl.Series([44908684, 44908822], dtype=pl.UInt32),
                         "ref": ["T", "C"], "alt": ["C", "T"]})
    con.register("v", user.to_arrow())
    hits = con.execute("SELECT e.id FROM v LEFT JOIN ensembl_variations e ON v.chrom = e.chrom "
                       "AND v.start = e.start AND v.ref = e.ref AND v.alt = e.alt ORDER BY e.id").fetchall()
    assert hits == [("rs429358",), ("rs7412",)]

    # Modules: module_config._working_config_path -> $JUST_DNA_MODULES_YAML, merged over its own
    # modules.yaml; a source is a collection of {name}/weights.parquet folders (hf_modules).
    conf = yaml.safe_load(Path(env["JUST_DNA_MODULES_YAML"]).read_text())
    (source,) = conf["sources"]
    assert source["kind"] == "collection"
    url = source["url"]
    assert "://" not in url and url.count("/") != 1 and Path(url).is_absolute()  # a local path, not HF shorthand
    assert conf["ensembl_source"]["repo_id"] and sorted(conf["module_metadata"]) == MODULES
    assert conf["module_metadata"]["drugs"]["title"] == "Pharmacogenomics"
    assert sorted(p.name for p in Path(url).iterdir()) == MODULES  # the collection: one folder per module
    for name in MODULES:
        module = Path(url) / name
        found = probe(module)
        assert found and found["annotations"] and found["studies"] and found["sources"], name
        assert found["metadata"] == module / "metadata.yaml" and found["version"] == "1.0.0"
        assert (found["logo"] is None) == (name in ("longevitymap", "vo2max")), name
        for table in ("weights", "annotations", "studies", "sources"):
            assert os.stat(module / f"{table}.parquet").st_ino == os.stat(dirs[name] / f"{table}.parquet").st_ino
        manifest = json.loads((module / "manifest.json").read_text())
        for entry in manifest["artifact"]["files"]:  # what verify_manifest checks
            data_ = (module / entry["name"]).read_bytes()
            assert entry["sha256"] == "sha256:" + hashlib.sha256(data_).hexdigest() and entry["size"] == len(data_)
        assert manifest["license"] == "AGPL-3.0"
        assert yaml.safe_load((module / "metadata.yaml").read_text())["name"] == name
        credits = pl.read_parquet(module / "sources.parquet")
        assert set(CREDIT_COLUMNS) <= set(credits.columns) and set(credits["layer"]) == {"annotation"}
        assert set(credits["module"]) == {name} and credits["license"].null_count() == 0
        assert not list(module.glob("*.sqlite")) and not list(module.glob("*.tsv"))

    # Again: nothing changes; after a rebuild (a new file at the path) the link follows it.
    again = make("consumer-layout", cache=cache)
    assert again.returncode == 0 and "2 kept" in again.stderr
    src = species_dir(cache) / f"{SPECIES}-chr21.parquet"
    rebuilt = src.with_name(".rebuilt")
    rebuilt.write_bytes(src.read_bytes())
    os.replace(rebuilt, src)
    assert make("consumer-layout", cache=cache).returncode == 0
    assert os.stat(data / src.name).st_ino == os.stat(src).st_ino


def test_layout_of_a_module_set_and_for_another_species(tmp_path):
    cache = tmp_path / "cache"
    demo_module(cache, tmp_path)
    discovery(cache, [f"{SPECIES}-chr19.vcf.gz"])
    run = [sys.executable, str(ROOT / "scripts" / "consumer.py"), "layout"]
    base = {k: v for k, v in os.environ.items() if k not in ("SPECIES", "CACHE_DIR", "MODULES")}
    result = subprocess.run(run, env={**base, "CACHE_DIR": str(cache)}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    modules = cache / "just-dna-lite" / SPECIES / "modules"
    coronary = modules / "coronary"
    assert (coronary / "logo.png").read_bytes() == (cache / "modules" / "coronary" / "logo.png").read_bytes()
    assert json.loads((coronary / "manifest.json").read_text())["logo"]["name"] == "logo.png"
    # A smaller set: the modules left out of it are removed from the layout (the consumer would read them).
    result = subprocess.run(run, env={**base, "CACHE_DIR": str(cache), "MODULES": "coronary,drugs"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in modules.iterdir()) == ["coronary", "drugs"]
    conf = yaml.safe_load(Path(env_of(result)["JUST_DNA_MODULES_YAML"]).read_text())
    assert sorted(conf["module_metadata"]) == ["coronary", "drugs"]  # the earlier run's other entries dropped

    # Mouse: its own layout, no human module, no human file.
    mouse = species_dir(cache).parent / "mus_musculus" / "mus_musculus.parquet"
    mouse.parent.mkdir(parents=True)
    mouse.write_bytes((species_dir(cache) / f"{SPECIES}-chr19.parquet").read_bytes())
    discovery(cache, ["mus_musculus.vcf.gz"], species="mus_musculus")
    result = subprocess.run(run, env={**base, "CACHE_DIR": str(cache), "SPECIES": "mus_musculus"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    root = cache / "just-dna-lite" / "mus_musculus"
    mouse_env = env_of(result)
    assert mouse_env["JUST_DNA_PIPELINES_CACHE_DIR"] == f"{cache}-consumer/mus_musculus"
    assert [p.name for p in (root / "ensembl_variations" / "data").iterdir()] == ["mus_musculus.parquet"]
    mouse_conf = yaml.safe_load(Path(mouse_env["JUST_DNA_MODULES_YAML"]).read_text())
    assert mouse_conf["sources"] == []
    assert mouse_conf["ensembl_source"] == {"repo_id": "just-dna-seq/ensembl_variations_mus_musculus"}
    assert "homo_sapiens curation: not laid out for mus_musculus" in result.stderr


def test_nothing_built_is_a_clear_error(tmp_path):
    cache = tmp_path / "cache"
    discovery(cache, [f"{SPECIES}-chr1.vcf.gz"])
    result = make("consumer-layout", cache=cache)
    assert result.returncode != 0 and "run `make parquet` first" in output(result)
    assert not (cache / "just-dna-lite").exists()

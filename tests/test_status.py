"""scripts/status.py on real caches built by real `make` runs against the mini mirror
served on 127.0.0.1: states and stale reasons must agree with what `make -n` would
rebuild, and `make -q modules` must tell the truth.

The pipeline runs in a copy of the project (Makefile, scripts, sql; the virtualenv
linked), so a test may edit the converter without touching the real one."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mirror
import modfixtures
import moduledef
import statusbench
from hubstub import FakeHub

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
SPECIES = "homo_sapiens"
NAMES = ["homo_sapiens-chr19", "homo_sapiens-chr21", "homo_sapiens-chrMT", "homo_sapiens-chrX"]
LM_OUTPUTS = list(moduledef.OUTPUTS)
MODULES = sorted(n for n in moduledef.all_modules() if n in modfixtures.BUILDERS)  # those the mirror serves
GOALS = ["vcfs", "parquets", "modules"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror_site):
    """A copy of the project to run make in, and the mini mirror served."""
    repo = tmp_path_factory.mktemp("repo")
    for name in ("Makefile", "config.toml", "pyproject.toml", "uv.lock"):
        shutil.copy2(ROOT / name, repo / name)
    for name in ("scripts", "sql"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    (repo / ".venv").symlink_to(ROOT / ".venv")
    with mirror.MirrorServer(mirror_site) as server:
        yield repo, server


def env_for(project, cache: Path, **extra: str) -> dict:
    repo, server = project
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update(CACHE_DIR=str(cache), BASE_URL=f"{server.url}/", SPECIES=SPECIES,
               **mirror.module_env(server.url),
               RETRY_BACKOFF="0.01", CONNECT_TIMEOUT="5", READ_TIMEOUT="30")
    env.update(extra)
    return env


def make(project, cache: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    repo, _ = project
    return subprocess.run(["make", "-C", str(repo), "--no-print-directory", *args],
                          env=env_for(project, cache, **extra), capture_output=True, text=True, timeout=300)


def status(project, cache: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    repo, _ = project
    return subprocess.run([PY, str(repo / "scripts" / "status.py"), *args],
                          env=env_for(project, cache, **extra), capture_output=True, text=True, timeout=60)


def status_json(project, cache: Path, **extra: str) -> dict:
    result = status(project, cache, "--json", **extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def rows(doc: dict) -> dict[str, dict]:
    return {r["id"]: r for r in doc["rows"]}


def not_up_to_date(doc: dict) -> dict[str, str]:
    """target -> state, for the rows status says Make would rebuild."""
    return {r["target"]: r["state"] for r in doc["rows"] if r["state"] != "up to date"}


def make_would_remake(project, cache: Path, **extra: str) -> set[str]:
    """The file targets `make -n` would rebuild (its --debug=b "Must remake" lines), the
    outputs of a module counted together as the one grouped target they are."""
    result = make(project, cache, "-n", "--debug=b", *GOALS, **extra)
    assert result.returncode == 0, result.stdout + result.stderr
    found = set(re.findall(r"Must remake target '([^']+)'", result.stdout))
    files = {t for t in found if t.startswith(str(cache)) and "/expected/" not in t
             and not t.endswith("inputs.key")}
    for m in MODULES:
        module = cache / "modules" / m
        if any(Path(t).parent == module and Path(t).name in LM_OUTPUTS for t in files):
            files |= {str(module / name) for name in LM_OUTPUTS}
    return files


def build(project, cache: Path, *goals: str) -> None:
    result = make(project, cache, *(goals or ("download", "parquet", "modules")))
    assert result.returncode == 0, result.stdout + result.stderr


def species_dir(cache: Path) -> Path:
    return cache / "ensembl" / SPECIES


def later(path: Path) -> None:
    """Make ``path`` newer than anything built so far (its time set to now)."""
    time.sleep(0.01)
    os.utime(path)


# --- a fresh cache ----------------------------------------------------------------------

def test_fresh_cache_is_up_to_date_in_json_text_and_check(project, tmp_path):
    cache = tmp_path / "cache"
    build(project, cache)
    doc = status_json(project, cache)
    sdir = species_dir(cache)
    assert doc["species"] == SPECIES and doc["cache_dir"] == str(cache) and doc["up_to_date"] is True
    assert doc["discovery"]["base_url"] == f"{project[1].url}/" and doc["discovery"]["files"] == 4
    assert doc["discovery"]["release"] == "114" and doc["discovery"]["discovered"]
    # pipeline order: manifest, VCFs, Parquet, the modules' sources, the hits, each module's inputs and outputs
    stages = [r["stage"] for r in doc["rows"]]
    assert stages == (["manifest"] + ["vcf"] * 4 + ["parquet"] * 4 + ["module-source"] * 6 + ["module-hits"] * 4
                      + (["module-inputs"] + ["module-table"] * len(LM_OUTPUTS)) * 6)
    assert doc["modules"] == MODULES
    tables = [r for r in doc["rows"] if r["stage"] == "module-table"]
    assert [r["partition"] for r in tables] == [f"{m}/{n}" for m in MODULES for n in LM_OUTPUTS]  # a cell each
    assert {r["module"] for r in tables} == set(MODULES)
    assert [r["partition"] for r in doc["rows"] if r["stage"] == "vcf"] == ["chr19", "chr21", "chrMT", "chrX"]
    by_id = rows(doc)
    import pyarrow.parquet as pq
    for name in NAMES:
        vcf = by_id[f"ensembl/{SPECIES}/vcf/{name}.vcf.gz"]
        assert vcf["state"] == "up to date" and vcf["checksum_verified"] is True
        assert vcf["size"] == (sdir / "vcf" / f"{name}.vcf.gz").stat().st_size
        assert vcf["history"][-1]["step"] == "fetch" and vcf["seconds"] is not None
        parquet = by_id[f"ensembl/{SPECIES}/{name}.parquet"]
        assert parquet["rows"] == pq.read_metadata(sdir / f"{name}.parquet").num_rows > 0
        assert parquet["target"] == str(sdir / f"{name}.parquet") and parquet["peak_rss_bytes"] > 0
        assert parquet["checksum_verified"] is True and parquet["release"] == "114"
    for m in MODULES:
        weights = by_id[f"modules/{m}/weights.parquet"]
        assert weights["rows"] == pq.read_metadata(cache / "modules" / m / "weights.parquet").num_rows > 0
    totals = doc["totals"]
    assert totals["files"] == len(doc["rows"])
    assert totals["bytes"] == sum(r["size"] for r in doc["rows"])
    assert set(totals["seconds_by_stage"]) >= {"vcf", "parquet", "module-table"}
    assert totals["max_peak_rss"]["bytes"] == max(r["peak_rss_bytes"] for r in doc["resources"])
    assert {r["step"] for r in doc["resources"]} == {"discover", "fetch", "vcf2parquet", "modules-hits", *MODULES,
                                                     *(f"{m}-fetch" for m in MODULES)}
    assert doc["uploads"] == []

    text = status(project, cache)
    assert text.returncode == 0 and "\033[" not in text.stdout  # not a terminal: no colours
    assert "everything is up to date" in text.stdout and f"{SPECIES}-chr21.parquet" in text.stdout
    assert status(project, cache, "--check").returncode == 0
    # the quirk is gone: Make, asked, says up to date too (and nothing was written)
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    assert make(project, cache, "-q", "modules").returncode == 0
    assert make(project, cache, "-q", *GOALS).returncode == 0
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == before
    assert make_would_remake(project, cache) == set()

    # the last upload per Hub repo, as upload.py records it
    hub = FakeHub().start()
    try:
        hub.add_token("hf_status_token", "write", orgs={"test-org": "write"})
        hub.add_repo("test-org/ensembl_variations")
        env = env_for(project, cache, HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1",
                      HF_HOME=str(tmp_path / "hf-home"), HF_TOKEN="hf_status_token",
                      HF_ENSEMBL_REPO="test-org/ensembl_variations", RETRIES="0", NO_PROXY="127.0.0.1,localhost")
        sent = subprocess.run([PY, str(project[0] / "scripts" / "upload.py"), "ensembl"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert sent.returncode == 0, sent.stderr
        again = subprocess.run([PY, str(project[0] / "scripts" / "upload.py"), "ensembl"], env=env,
                               capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        oid = hub.commits("test-org/ensembl_variations")[-1]["oid"]
    finally:
        hub.stop()
    (upload,) = status_json(project, cache)["uploads"]
    assert upload["repo"] == "test-org/ensembl_variations" and upload["kind"] == "ensembl"
    assert upload["outcome"] == "ok" and upload["commit"] is None and upload["bytes_sent"] == 0  # the latest
    assert len(upload["skipped"]) == 5 and all(s["reason"].startswith("unchanged") for s in upload["skipped"])
    first = [json.loads(line) for line in (species_dir(cache) / "steps.jsonl").read_text().splitlines()
             if '"upload-ensembl"' in line][0]
    assert first["commit"] == oid and first["kind"] == "ensembl" and first["bytes_sent"] > 0
    assert upload["last_commit"] == {"time": first["time"], "commit": oid, "commit_url": first["commit_url"]}
    text = status(project, cache).stdout
    assert "last upload to test-org/ensembl_variations (ensembl)" in text and "0 uploaded, 5 skipped" in text


# --- stale: exactly what make -n would rebuild ----------------------------------------------

def test_stale_states_agree_with_make_n(project, tmp_path):
    repo, _ = project
    cache = tmp_path / "cache"
    build(project, cache)
    sdir = species_dir(cache)
    module = cache / "modules" / "longevitymap"
    hits = cache / "modules" / "hits"
    tables = {str(cache / "modules" / m / name) for m in MODULES for name in LM_OUTPUTS}
    inputs = {str(cache / "modules" / m / "inputs.txt") for m in MODULES}

    def agree(**extra) -> dict:
        doc = status_json(project, cache, **extra)
        assert set(not_up_to_date(doc)) == make_would_remake(project, cache, **extra)
        # the question asked of Make changed nothing status relies on: it still agrees
        again = status_json(project, cache, **extra)
        assert not_up_to_date(again) == not_up_to_date(doc)
        assert set(not_up_to_date(again)) == make_would_remake(project, cache, **extra)
        assert status(project, cache, "--check", **extra).returncode == (0 if doc["up_to_date"] else 1)
        return doc

    # a VCF gone: the VCF, its Parquet and the tables; its stamp expected/<name> gone: nothing
    # (Make reaches the stamp through a pattern rule only: an absent one remakes nothing)
    vcf = sdir / "vcf" / "homo_sapiens-chrMT.vcf.gz"
    vcf.rename(tmp_path / vcf.name)
    doc = agree()
    assert not_up_to_date(doc) == {str(vcf): "missing", str(sdir / "homo_sapiens-chrMT.parquet"): "stale",
                                   str(hits / "homo_sapiens-chrMT.hits.parquet"): "stale",
                                   **dict.fromkeys(tables, "stale")}
    assert rows(doc)[f"ensembl/{SPECIES}/homo_sapiens-chrMT.parquet"]["reason"] == "VCF missing"
    (tmp_path / vcf.name).rename(vcf)
    stamp = sdir / "expected" / vcf.name
    stamp.rename(tmp_path / "stamp")
    assert agree()["up_to_date"] is True
    (tmp_path / "stamp").rename(stamp)

    # a VCF newer than its Parquet: that Parquet and the tables
    later(sdir / "vcf" / "homo_sapiens-chr21.vcf.gz")
    doc = agree()
    assert not_up_to_date(doc) == {str(sdir / "homo_sapiens-chr21.parquet"): "stale",
                                   str(hits / "homo_sapiens-chr21.hits.parquet"): "stale",
                                   **dict.fromkeys(tables, "stale")}
    by_id = rows(doc)
    assert by_id[f"ensembl/{SPECIES}/homo_sapiens-chr21.parquet"]["reason"] == "VCF newer"
    assert by_id["modules/hits/homo_sapiens-chr21.hits.parquet"]["reason"] == "Parquet stale"
    assert all(by_id[f"modules/{m}/weights.parquet"]["reason"] == "hits stale" for m in MODULES)
    build(project, cache, "parquet", "modules")
    assert agree()["up_to_date"] is True

    # the converter edited: every Parquet, then the tables
    converter = repo / "scripts" / "vcf2parquet.py"
    with converter.open("a") as fh:
        fh.write("# edited by test_status\n")
    later(converter)
    doc = agree()
    parquets = [r for r in doc["rows"] if r["stage"] == "parquet"]
    assert len(parquets) == 4 and all(r["state"] == "stale" and r["reason"] == "converter changed" for r in parquets)
    assert all(rows(doc)[f"modules/{m}/{n}"]["state"] == "stale" for m in MODULES for n in LM_OUTPUTS)
    assert all(rows(doc)[f"ensembl/{SPECIES}/vcf/{n}.vcf.gz"]["state"] == "up to date" for n in NAMES)
    build(project, cache, "parquet", "modules")
    assert agree()["up_to_date"] is True

    # CURATOR changed: every module's inputs.txt and tables, nothing upstream
    doc = agree(CURATOR="Someone Else")
    assert set(not_up_to_date(doc)) == {*inputs, *tables}
    assert rows(doc)["modules/longevitymap/inputs.txt"]["reason"] == "CURATOR changed"
    assert rows(doc)["modules/longevitymap/annotations.parquet"]["reason"] == "CURATOR changed"
    assert make(project, cache, "-q", "longevitymap", CURATOR="Someone Else").returncode == 1
    build_result = make(project, cache, "modules", CURATOR="Someone Else")
    assert build_result.returncode == 0 and "modules.py build longevitymap" in build_result.stdout
    assert "curator = Someone Else" in (module / "inputs.txt").read_text()
    assert make(project, cache, "-q", "modules", CURATOR="Someone Else").returncode == 0
    assert agree(CURATOR="Someone Else")["up_to_date"] is True

    # METHOD changed, and a different Ensembl file list, are noticed by Make alone too
    assert make(project, cache, "-q", "modules", CURATOR="Someone Else", METHOD="other").returncode == 1
    doc = agree(CURATOR="Someone Else", METHOD="other")
    assert rows(doc)["modules/longevitymap/inputs.txt"]["reason"] == "METHOD changed"
    subset = str(sdir / "homo_sapiens-chr19.parquet")
    doc = agree(CURATOR="Someone Else", ENSEMBL_PARQUET=subset)
    assert rows(doc)["modules/longevitymap/inputs.txt"]["reason"] == "file list changed"
    assert make(project, cache, "-q", "modules", CURATOR="Someone Else",
                ENSEMBL_PARQUET=subset).returncode == 1

    # the listing's key changed (another BASE_URL): Make would discover again, so the
    # manifest and everything made from it is stale; status asks no server
    doc = status_json(project, cache, BASE_URL="http://127.0.0.1:9/elsewhere/", CURATOR="Someone Else")
    by_id = rows(doc)
    assert by_id[f"ensembl/{SPECIES}/vcf_urls.json"]["reason"] == "listing changed"
    assert by_id[f"ensembl/{SPECIES}/vcf/homo_sapiens-chrX.vcf.gz"]["state"] == "stale"
    assert doc["discovery"]["listing_changed"] is True and doc["up_to_date"] is False


# --- failed, partial, running ---------------------------------------------------------------

def test_failed_partial_and_running(project, tmp_path):
    _, server = project
    cache = tmp_path / "cache"
    build(project, cache, "download", "parquet")
    sdir = species_dir(cache)

    # a failed conversion: the last attempt's error, one line
    vcf = sdir / "vcf" / "homo_sapiens-chrX.vcf.gz"
    stamp = vcf.stat()
    vcf.write_bytes(vcf.read_bytes()[:-200])  # cut: the bgzip end-of-file block is gone
    os.utime(vcf, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    (sdir / "homo_sapiens-chrX.parquet").unlink()
    assert make(project, cache, "parquets").returncode != 0
    doc = status_json(project, cache)
    row = rows(doc)[f"ensembl/{SPECIES}/homo_sapiens-chrX.parquet"]
    assert row["state"] == "failed" and "homo_sapiens-chrX.vcf.gz: truncated" in row["error"]
    assert "\n" not in row["error"] and row["history"][-1]["outcome"] == "failed"
    assert str(sdir / "homo_sapiens-chrX.parquet") in make_would_remake(project, cache)
    assert status(project, cache, "--check").returncode == 1
    assert "failed" in status(project, cache).stdout

    # a download in progress (the server stalls after 20,000 bytes): running, with the
    # progress on disk (the fetcher's write buffer may hold the last few KiB); then
    # interrupted: partial, with how far it got of the size the server announced
    name = "homo_sapiens-chr21.vcf.gz"
    (sdir / "vcf" / name).unlink()
    server.add_fault(f"/{SPECIES}/{name}", "stall", after=20_000, seconds=10)
    run = subprocess.Popen(["make", "-C", str(project[0]), "--no-print-directory", "vcfs"],
                           env=env_for(project, cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            row = rows(status_json(project, cache))[f"ensembl/{SPECIES}/vcf/{name}"]
            if row["state"] == "running" and row["progress"]["bytes"] > 0:
                break
            assert time.monotonic() < deadline, row
            time.sleep(0.2)
        total = (server.root / SPECIES / name).stat().st_size
        assert row["progress"]["total"] == total and row["progress"]["total_from"] == "server"
        assert row["progress"]["bytes"] <= 20_000
        assert row["progress"]["percent"] == round(100 * row["progress"]["bytes"] / total, 1)
    finally:
        os.killpg(run.pid, signal.SIGTERM)
        run.wait(timeout=30)
    row = rows(status_json(project, cache))[f"ensembl/{SPECIES}/vcf/{name}"]
    assert row["state"] == "partial" and row["progress"]["bytes"] == 20_000
    assert row["progress"]["total"] == total
    text = status(project, cache).stdout
    assert re.search(rf"{re.escape(name)}\s+partial .*19\.5 KiB of", text)
    # without the fetcher's note of the announced size, CHECKSUMS gives an estimate
    (sdir / "vcf" / f"{name}.part.json").unlink()
    row = rows(status_json(project, cache))[f"ensembl/{SPECIES}/vcf/{name}"]
    blocks = int((sdir / "expected" / name).read_text().split()[1])
    assert row["progress"]["total"] == blocks * 1024 and "estimate" in row["progress"]["total_from"]

    # a conversion's temporary file (.<name>.<pid>.tmp, common.temp_path_for) of a live
    # process means running; of a dead one, a leftover that changes nothing
    target = sdir / "homo_sapiens-chr19.parquet"
    dead = subprocess.Popen(["true"])
    dead.wait()
    leftover = sdir / f".{target.name}.{dead.pid}.tmp"
    leftover.write_bytes(b"x" * 10)
    assert rows(status_json(project, cache))[f"ensembl/{SPECIES}/{target.name}"]["state"] == "up to date"
    live = sdir / f".{target.name}.{os.getpid()}.tmp"
    live.write_bytes(b"x" * 1234)
    row = rows(status_json(project, cache))[f"ensembl/{SPECIES}/{target.name}"]
    assert row["state"] == "running" and row["progress"]["bytes"] == 1234
    live.unlink()
    leftover.unlink()

    # a live lock held by another process (as a running fetch holds it) means running
    lock = cache / "tmp" / "locks" / "homo_sapiens-chrMT.vcf.gz.lock"
    with lock.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        assert rows(status_json(project, cache))[f"ensembl/{SPECIES}/vcf/homo_sapiens-chrMT.vcf.gz"]["state"] \
            == "running"
    assert rows(status_json(project, cache))[f"ensembl/{SPECIES}/vcf/homo_sapiens-chrMT.vcf.gz"]["state"] \
        == "up to date"


def test_watch_redraws_and_no_manifest_is_missing(project, tmp_path):
    cache = tmp_path / "empty"
    doc = status_json(project, cache)
    assert [(r["stage"], r["state"]) for r in doc["rows"]][:1] == [("manifest", "missing")]
    assert doc["up_to_date"] is False and doc["discovery"]["files"] == 0
    assert not cache.exists()  # status wrote nothing
    just = subprocess.run([str(ROOT / ".venv" / "bin" / "just"), "--justfile", str(ROOT / "justfile"), "status",
                           f"CACHE_DIR={cache}", "--check"], env=env_for(project, tmp_path / "elsewhere"),
                          capture_output=True, text=True, timeout=120)
    assert just.returncode == 1 and re.search(r"vcf_urls\.json\s+missing", just.stdout), just.stdout + just.stderr
    assert not cache.exists()
    repo, _ = project
    watch = subprocess.Popen([PY, str(repo / "scripts" / "status.py"), "--watch", "--interval", "0.2"],
                             env=env_for(project, cache), stdout=subprocess.PIPE, text=True)
    try:
        seen = 0
        for line in watch.stdout:
            seen += line.startswith(f"{SPECIES} in {cache}")
            if seen == 2:
                break
    finally:
        watch.send_signal(signal.SIGINT)
        watch.wait(timeout=10)
    assert seen == 2


def test_synthetic_full_human_cache(tmp_path):
    """The bench's cache: 25 VCFs, 25 Parquet files and a 10,000-line step log; every file
    target up to date (the module is not built there)."""
    cache = tmp_path / "cache"
    env = statusbench.build(cache)
    result = subprocess.run([PY, str(ROOT / "scripts" / "status.py"), "--json"],
                            env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    states = {}
    for r in doc["rows"]:
        states.setdefault(r["stage"], []).append(r["state"])
    assert states["vcf"] == ["up to date"] * 25 and states["parquet"] == ["up to date"] * 25
    assert [r["partition"] for r in doc["rows"] if r["stage"] == "vcf"][-3:] == ["chrX", "chrY", "chrMT"] or \
        len({r["partition"] for r in doc["rows"] if r["stage"] == "vcf"}) == 25
    assert sum(1 for _ in (cache / "ensembl" / SPECIES / "steps.jsonl").open()) >= 10_000
    assert all(r["rows"] == statusbench.ROWS for r in doc["rows"] if r["stage"] == "parquet")

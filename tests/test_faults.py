"""Faults injected on purpose (issue 16, item 6): real processes stopped by SIGINT, SIGTERM
and SIGKILL at chosen points, real files corrupted, two makes on one cache, a foreign VCF,
a VCF dated in the future; each test checks the files afterwards, not only exit codes.

Chosen points: PA_HOLD_AT=<point> holds a step in a long DuckDB query (native code holding
the main thread, as a big join or a polars sink does) at vcf2parquet-commit (the Parquet
written under its temporary name), hits-write, module-build and module-commit (the
tables written under their temporary names)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

import mirror
import moduledef
import synthvcf
import vcf2parquet
from helpers import ROOT, make, output
from hubstub import FakeHub

PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
SPECIES = "homo_sapiens"
CHR21 = f"{SPECIES}-chr21"
REPO, MOD_REPO = "test-org/ensembl_variations", "test-org/annotators"
TOKEN = "hf_test_write_token_0123456789"
TABLES = moduledef.OUTPUTS  # what a module build writes, together


# --- fixtures: one mirror, one built cache, copied for each test ---------------------------------

@pytest.fixture(scope="module")
def served(mirror_site):
    with mirror.MirrorServer(mirror_site) as srv:
        yield srv


def modenv(srv) -> dict[str, str]:
    """The modules' synthetic sources on the mirror (<MODULE>_URL, MODULES): nothing from GitHub."""
    return mirror.module_env(srv.url)


@pytest.fixture(scope="module")
def built(served, tmp_path_factory) -> Path:
    """A cache after `make download parquet longevitymap` (copied by each test that uses it)."""
    cache = tmp_path_factory.mktemp("built") / "cache"
    r = make("download", "parquet", "longevitymap", cache=cache, server=served, **modenv(served))
    assert r.returncode == 0, output(r)
    return cache


def copy_cache(src: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "cache"
    shutil.copytree(src, dest, symlinks=True)  # copy2: mtimes kept, so Make sees the same state
    return dest


def sdir(cache: Path) -> Path:
    return cache / "ensembl" / SPECIES


def mdir(cache: Path) -> Path:
    return cache / "modules" / "longevitymap"


def hdir(cache: Path) -> Path:
    """The hits of every module (the map step), and their step log one level up."""
    return cache / "modules" / "hits"


def records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def vcf_records(vcf: Path) -> int:
    with gzip.open(vcf, "rt") as fh:
        return sum(1 for line in fh if line and not line.startswith("#"))


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) if folder.exists() else []


def status_json(cache: Path, srv) -> dict:
    env = {**os.environ, "CACHE_DIR": str(cache), "BASE_URL": f"{srv.url}/"}
    r = subprocess.run([PY, str(ROOT / "scripts" / "status.py"), "--json"], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return {row["id"]: row for row in json.loads(r.stdout)["rows"]}


def held(argv: list[str], env: dict, point: str) -> subprocess.Popen:
    """Start a step and wait until it holds at ``point``."""
    proc = subprocess.Popen(argv, cwd=ROOT, env={**env, "PA_HOLD_AT": point}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    seen = ""
    while f"holding at {point}" not in seen:
        line = proc.stderr.readline()
        seen += line
        assert line or proc.poll() is None, f"ended before {point}: {seen}"
        assert time.monotonic() < deadline, seen
    return proc


def stop(proc: subprocess.Popen, sig: int) -> tuple[float, str]:
    """Send ``sig``; (seconds until the process ended, the rest of its stderr)."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return time.monotonic() - t0, err


# --- SIGINT and SIGTERM: stop within about a second, leave nothing, say so -------------------------

@pytest.fixture(scope="module")
def big_vcf(tmp_path_factory) -> Path:
    """600,000 records: with one thread, a conversion of several seconds."""
    return synthvcf.write_vcf(tmp_path_factory.mktemp("big") / "big.vcf.gz", 600_000, seed=5, chrom="2")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_a_conversion_mid_sink_within_a_second(big_vcf, tmp_path, sig):
    """Before: a handler installed with signal.signal does not run while the polars sink
    holds the main thread, so the conversion went on to its end (6.7 s after SIGTERM in the
    issue) and its temporary file grew to full size meanwhile."""
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([PY, str(ROOT / "scripts" / "vcf2parquet.py"), str(big_vcf), str(out / "big.parquet"),
                             "--threads", "1"], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".tmp") for p in out.iterdir()):  # the sink has opened its file
        assert proc.poll() is None and time.monotonic() < deadline, "the conversion ended before the signal"
        time.sleep(0.02)
    time.sleep(0.5)
    seconds, err = stop(proc, sig)
    assert seconds < 2.0, f"stopped {seconds:.1f} s after {sig.name}"
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    lines = err.strip().splitlines()
    assert lines == [f"vcf2parquet: {big_vcf}: interrupted; no Parquet written"], err  # one line, no traceback
    assert [p.name for p in out.iterdir()] == ["steps.jsonl"]  # no Parquet, no temporary, no pieces
    last = records(out / "steps.jsonl")[-1]
    assert last["outcome"] == "interrupted" and last["message"] == "interrupted"


def test_sigkill_mid_sink_then_the_next_run_removes_what_it_left(big_vcf, tmp_path):
    """Before: a killed conversion left its temporary Parquet and its pieces directory
    forever (44 MB per kill in the issue)."""
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "CACHE_DIR": str(tmp_path / "cache")}
    argv = [PY, str(ROOT / "scripts" / "vcf2parquet.py"), str(big_vcf), str(out / "big.parquet"), "--threads", "1"]
    proc = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    while not any(p.name.endswith(".tmp") for p in out.iterdir()):
        assert proc.poll() is None, "the conversion ended before the kill"
        time.sleep(0.02)
    time.sleep(0.3)
    stop(proc, signal.SIGKILL)
    left = hidden(out)
    assert len(left) == 2 and any(n.endswith(".tmp") for n in left) and any(n.endswith(".pieces") for n in left), left
    again = subprocess.run(argv[:-2], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("which is gone") == 2, again.stderr
    assert hidden(out) == [] and pq.read_metadata(out / "big.parquet").num_rows == 600_000


@pytest.mark.parametrize("point", ["vcf2parquet-commit", "vcf2parquet-committed"])
def test_a_stop_just_before_or_after_the_rename_leaves_nothing(tmp_path, point):
    """Stopped with the whole Parquet under its temporary name, or just renamed into place
    (its step not yet recorded): no Parquet either way, and `interrupted` recorded."""
    vcf = synthvcf.write_vcf(tmp_path / "v.vcf.gz", 500, seed=2, chrom="4")
    out = tmp_path / "out"
    env = {**os.environ, "CACHE_DIR": str(tmp_path / "cache")}
    proc = held([PY, "scripts/vcf2parquet.py", str(vcf), str(out / "v.parquet")], env, point)
    seconds, err = stop(proc, signal.SIGTERM)
    assert seconds < 2.0 and proc.returncode == 143, (seconds, proc.returncode, err)
    assert [p.name for p in out.iterdir()] == ["steps.jsonl"], err
    assert records(out / "steps.jsonl")[-1]["outcome"] == "interrupted"


def test_ctrl_c_at_any_moment_is_an_interrupt(tmp_path):
    """Before, 2 of 11 Ctrl-C ended in `failed: GeneratorExit`, rc 1: now always the same line,
    rc 130, `interrupted` in the step log, whenever it lands."""
    vcf = synthvcf.write_vcf(tmp_path / "v.vcf.gz", 60_000, seed=3, chrom="3")
    env = {**os.environ, "CACHE_DIR": str(tmp_path / "cache")}
    for k, delay in enumerate((0.05, 0.3, 0.6, 0.9, 1.2, 1.5)):
        out = tmp_path / f"o{k}"
        out.mkdir()
        proc = subprocess.Popen([PY, str(ROOT / "scripts" / "vcf2parquet.py"), str(vcf), str(out / "v.parquet"),
                                 "--piece-mib", "0.25"], env=env, stderr=subprocess.PIPE, text=True)
        while not (out / "steps.jsonl").exists() and not any(p.name.startswith(".") for p in out.iterdir()):
            assert proc.poll() is None
            time.sleep(0.01)
        time.sleep(delay)
        _, err = stop(proc, signal.SIGINT)
        if records(out / "steps.jsonl")[-1]["outcome"] == "ok":  # it finished first: complete, recorded
            assert pq.read_metadata(out / "v.parquet").num_rows == 60_000 and "Traceback" not in err, err
            continue
        assert proc.returncode == 130 and "GeneratorExit" not in err and "Traceback" not in err, err
        assert err.strip().splitlines() == [f"vcf2parquet: {vcf}: interrupted; no Parquet written"], err
        assert [p.name for p in out.iterdir()] == ["steps.jsonl"]
        assert records(out / "steps.jsonl")[-1]["outcome"] == "interrupted"


@pytest.mark.parametrize("point", ["hits-write", "module-build", "module-commit"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_module_steps_within_a_second(built, tmp_path, point, sig):
    cache = copy_cache(built, tmp_path)
    env = {**os.environ, "CACHE_DIR": str(cache)}
    hits = sorted(hdir(cache).glob("*.hits.parquet"))
    if point == "hits-write":
        dest = hdir(cache) / f"{CHR21}.hits.parquet"
        before = dest.read_bytes()
        argv = [PY, "scripts/modules.py", "hits", str(sdir(cache) / f"{CHR21}.parquet"), str(dest)]
    else:
        argv = [PY, "scripts/modules.py", "build", "longevitymap", *map(str, hits)]
    proc = held(argv, env, point)
    seconds, err = stop(proc, sig)
    assert seconds < 2.0 and proc.returncode == 128 + sig, (seconds, proc.returncode, err)
    assert "interrupted" in err and "Traceback" not in err and "Query interrupted" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    last = records((hdir(cache).parent if point == "hits-write" else mdir(cache)) / "steps.jsonl")[-1]
    assert last["outcome"] == "interrupted", last
    if point == "hits-write":
        assert dest.read_bytes() == before and hidden(dest.parent) == []
    else:  # no table at all (as on any failure of the build: Make builds them again), no temporary
        assert not any((mdir(cache) / t).exists() for t in TABLES) and hidden(mdir(cache)) == []


def test_a_stop_inside_a_long_duckdb_query_or_polars_sink_is_prompt(tmp_path):
    """The mechanism on its own: a step in outputs.guarded whose main thread is inside one
    long native call. Without it, DuckDB turns the signal into `RuntimeError: Query
    interrupted` (a failure, rc 1) and polars finishes its sink first."""
    code = f"""
import sys; sys.path.insert(0, {str(ROOT / 'scripts')!r})
from pathlib import Path
import common, outputs
cfg = {{"cache_dir": {str(tmp_path / 'cache')!r}}}
tmp = Path({str(tmp_path / '.x.tmp')!r}); tmp.write_bytes(b"partial")
with outputs.guarded(cfg, Path({str(tmp_path / 'x')!r}), "x: interrupted"):
    outputs.remove_on_stop(tmp)
    with common.step(Path({str(tmp_path / 'steps.jsonl')!r}), "x", "x"):
        common.say("started")
        if sys.argv[1] == "duckdb":
            import duckdb
            duckdb.sql("SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3").fetchall()
        else:
            import polars as pl
            frame = pl.LazyFrame({{"a": [1]}}).select(pl.int_range(0, 4_000_000_000).alias("i"))
            frame.sink_parquet({str(tmp_path / 'big.parquet')!r})
"""
    for kind in ("duckdb", "polars"):
        proc = subprocess.Popen([PY, "-c", code, kind], stderr=subprocess.PIPE, text=True)
        assert "started" in proc.stderr.readline()
        time.sleep(0.5)
        seconds, err = stop(proc, signal.SIGTERM)
        assert seconds < 2.0 and proc.returncode == 143, (kind, seconds, proc.returncode, err)
        assert err.strip() == "-c: x: interrupted", err
        assert not (tmp_path / ".x.tmp").exists()
        assert records(tmp_path / "steps.jsonl")[-1]["outcome"] == "interrupted"
        (tmp_path / "big.parquet").unlink(missing_ok=True)
        (tmp_path / ".x.tmp").write_bytes(b"partial")


# --- SIGKILL: temporaries left, shown by status, removed by the next run ---------------------------

def test_sigkill_leaves_temporaries_that_status_shows_and_the_next_run_removes(built, served, tmp_path):
    cache = copy_cache(built, tmp_path)
    parquet = sdir(cache) / f"{CHR21}.parquet"
    parquet.unlink()
    env = {**os.environ, "CACHE_DIR": str(cache), "BASE_URL": f"{served.url}/", "RETRY_BACKOFF": "0.01",
           **modenv(served)}
    proc = held(["make", "--no-print-directory", str(parquet)], env, "vcf2parquet-commit")
    victim = next(c for c in psutil.Process(proc.pid).children(recursive=True)
                  if "vcf2parquet.py" in " ".join(c.cmdline()))
    victim.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    left = hidden(sdir(cache))
    assert left == [f".{CHR21}.parquet.{victim.pid}.pieces", f".{CHR21}.parquet.{victim.pid}.tmp"], left
    size = (sdir(cache) / left[1]).stat().st_size
    assert size > 1000  # the whole Parquet, under its temporary name

    # a temporary of a process that is alive is someone's work in progress: kept
    alive = subprocess.Popen(["sleep", "60"])
    try:
        live = sdir(cache) / f".{CHR21}.parquet.{alive.pid}.tmp"
        live.write_bytes(b"in progress")
        rows = status_json(cache, served)
        row = rows[f"ensembl/{SPECIES}/{CHR21}.parquet"]
        assert sorted(x["pid"] for x in row["leftovers"]) == [victim.pid, victim.pid]
        assert row["state"] == "running"  # (the live one)
        live.unlink()
        text = subprocess.run([PY, "scripts/status.py"], cwd=ROOT, env=env, capture_output=True, text=True).stdout
        assert "2 temporaries of a dead process" in text, text
        live.write_bytes(b"in progress")

        r = make("parquet", cache=cache, server=served)
        assert r.returncode == 0, output(r)
        assert f"removed .{CHR21}.parquet.{victim.pid}.tmp" in r.stderr and "which is gone" in r.stderr
        assert f"kept, process {alive.pid} is still running" in r.stderr
        assert hidden(sdir(cache)) == [live.name]
    finally:
        alive.kill()
        alive.wait()
    assert pq.read_metadata(parquet).num_rows == vcf_records(sdir(cache) / "vcf" / f"{CHR21}.vcf.gz")
    # its process gone now, the kept one is shown as left over (the next run of the target removes it)
    assert [x["pid"] for x in status_json(cache, served)[f"ensembl/{SPECIES}/{CHR21}.parquet"]["leftovers"]] == \
        [alive.pid]
    live.unlink()

    # the module's tables, killed after they were written under their temporary names
    os.utime(mdir(cache) / "longevitymap.sqlite")  # newer: the tables are remade
    proc = held(["make", "--no-print-directory", "longevitymap"], env, "module-commit")
    victim = next(c for c in psutil.Process(proc.pid).children(recursive=True)
                  if "modules.py" in " ".join(c.cmdline()))
    victim.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert sorted(hidden(mdir(cache))) == sorted(f".{t}.{victim.pid}.tmp" for t in TABLES)
    r = make("longevitymap", cache=cache, server=served, **modenv(served))
    assert r.returncode == 0, output(r)
    assert hidden(mdir(cache)) == [] and all((mdir(cache) / t).exists() for t in TABLES)


# --- two makes on one cache -------------------------------------------------------------------------

def test_two_makes_on_one_cache_do_each_piece_of_work_once(built, served, tmp_path):
    """Before: downloads had a lock per file, conversions, hits and module builds none: two
    `make parquet` converted every file twice."""
    cache = copy_cache(built, tmp_path)
    for p in sdir(cache).glob("*.parquet"):
        p.unlink()
    (sdir(cache) / "steps.jsonl").unlink()
    shutil.rmtree(cache / "modules")  # every module's source, the hits, the tables, their logs
    cmd = ["make", "-C", str(ROOT), "--no-print-directory", "parquet", "longevitymap", f"CACHE_DIR={cache}",
           f"BASE_URL={served.url}/"]
    env = {**os.environ, **modenv(served), "RETRY_BACKOFF": "0.01"}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs

    def done(log: Path, step: str) -> list[str]:
        return sorted(r["target"] for r in records(log) if r["step"] == step and r["outcome"] == "ok")

    parquets = sorted(str(p) for p in sdir(cache).glob("*.parquet"))
    assert done(sdir(cache) / "steps.jsonl", "vcf2parquet") == parquets  # each converted once
    assert len(parquets) == 4
    for name in modenv(served)["MODULES"].split(","):  # each module's source fetched once (the hits need all)
        src = moduledef.get(name).source["file"]
        assert done(cache / "modules" / name / "steps.jsonl", f"{name}-fetch") == [str(cache / "modules" / name / src)]
    assert len(done(hdir(cache).parent / "steps.jsonl", "modules-hits")) == 4
    assert done(mdir(cache) / "steps.jsonl", "longevitymap") == [str(mdir(cache))]
    for p in sdir(cache).glob("*.parquet"):
        assert pq.read_metadata(p).num_rows == vcf_records(sdir(cache) / "vcf" / (p.stem + ".vcf.gz"))
    for t in TABLES:
        assert (mdir(cache) / t).read_bytes() == (mdir(built) / t).read_bytes()
    assert hidden(sdir(cache)) == [] and hidden(mdir(cache)) == []
    both = "".join(outs)
    assert "made meanwhile by another process" in both or "another process is building it" in both


# --- a damaged Parquet: refused by verify and the uploads, rebuilt by one command --------------------

def flip(path: Path, count: int = 64, at: int | None = None) -> None:
    """XOR ``count`` bytes in the middle (or from ``at``), keeping size and mtime (bit rot, a bad copy)."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    start = len(data) // 2 if at is None else at
    for i in range(start, start + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def hub_env(hub: FakeHub, cache: Path, tmp_path: Path, srv) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(CACHE_DIR=str(cache), BASE_URL=f"{srv.url}/", HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN,
               HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "hf-home"), HF_ENSEMBL_REPO=REPO,
               HF_MODULES_REPO=MOD_REPO, RETRIES="0", NO_PROXY="127.0.0.1,localhost")
    return env


def script(env: dict, name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, str(ROOT / "scripts" / name), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_damaged_parquet_is_refused_and_rebuilt_by_one_command(built, served, tmp_path):
    cache = copy_cache(built, tmp_path)
    parquet = sdir(cache) / f"{CHR21}.parquet"
    hub = FakeHub().start()
    hub.add_token(TOKEN, "write", orgs={"test-org": "write"})
    hub.add_repo(REPO)
    hub.add_repo(MOD_REPO)
    try:
        env = hub_env(hub, cache, tmp_path, served)
        assert script(env, "upload.py", "ensembl", "--dry-run").returncode == 0  # digests cached: size, mtime
        flip(parquet)
        assert status_json(cache, served)[f"ensembl/{SPECIES}/{CHR21}.parquet"]["state"] == "up to date"

        v = make("verify", cache=cache, server=served)
        rebuild = f"make {parquet} FORCE=1"
        assert v.returncode != 0 and f"{parquet}: its bytes are no longer those written" in v.stderr, output(v)
        assert f"`{rebuild}`" in v.stderr and f"{SPECIES}-chr19.parquet: OK (as written)" in v.stderr
        row = status_json(cache, served)[f"ensembl/{SPECIES}/{CHR21}.parquet"]
        assert row["state"] == "failed" and rebuild in row["error"], row

        for args in (("ensembl", "--dry-run"), ("ensembl",)):
            r = script(env, "upload.py", *args)
            assert r.returncode == 1 and "refusing to upload" in r.stderr and str(parquet) in r.stderr, r.stderr
        assert not [p for p in hub.files(REPO) if p.startswith("data/")] and len(hub.commits(REPO)) == 1
        assert records(sdir(cache) / "steps.jsonl")[-1]["outcome"] == "refused"  # nothing was attempted
        r = script(env, "publish_ci.py", "report", str(parquet), str(tmp_path / "leg.json"))
        assert r.returncode == 1 and str(parquet) in r.stderr and not (tmp_path / "leg.json").exists()

        r = subprocess.run(["bash", "-c", rebuild + f" CACHE_DIR={cache} BASE_URL={served.url}/"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and output(r).count("scripts/vcf2parquet.py") == 1, output(r)
        assert pq.read_table(parquet).num_rows == vcf_records(sdir(cache) / "vcf" / f"{CHR21}.vcf.gz")
        assert make("verify", cache=cache, server=served).returncode == 0
        up = script(env, "upload.py", "ensembl")
        assert up.returncode == 0, up.stderr
        assert hub.files(REPO)[f"data/{CHR21}.parquet"] == parquet.read_bytes()

        # a module table: the same, and a truncated file is seen by status itself (its size)
        weights = mdir(cache) / "weights.parquet"
        flip(weights, 4, at=12)  # in the first page, not the footer (a small file)
        r = script(env, "upload.py", "modules", "--module", "longevitymap")
        assert r.returncode == 1 and str(weights) in r.stderr and "`make longevitymap FORCE=1`" in r.stderr
        assert not any(p.startswith("data/longevitymap/") for p in hub.files(MOD_REPO))
        weights.write_bytes(weights.read_bytes()[:-10])
        row = status_json(cache, served)["modules/longevitymap/weights.parquet"]
        assert row["state"] == "failed" and "when it was written" in row["error"], row
    finally:
        hub.stop()


# --- a VCF that fails its checksum never becomes a Parquet -------------------------------------------

def test_a_vcf_failing_its_checksum_never_becomes_a_parquet(built, served, tmp_path):
    cache = copy_cache(built, tmp_path)
    vcf = sdir(cache) / "vcf" / f"{CHR21}.vcf.gz"
    parquet = sdir(cache) / f"{CHR21}.parquet"
    good = parquet.read_bytes()
    foreign = synthvcf.write_vcf(tmp_path / "foreign.vcf.gz", 2000, seed=99, chrom="21")  # valid, not Ensembl's
    shutil.copyfile(foreign, vcf)  # newer than the Parquet: make converts it again
    r = make("parquet", cache=cache, server=served)
    assert r.returncode != 0 and f"{vcf}: checksum" in r.stderr and "does not match CHECKSUMS" in r.stderr, output(r)
    assert parquet.read_bytes() == good and hidden(sdir(cache)) == []  # nothing converted, nothing left

    # a Parquet converted from such a VCF (by an earlier version): never published, named by verify
    vcf2parquet.convert(foreign, tmp_path / "made-elsewhere.parquet")  # (no CHECKSUMS beside it)
    shutil.copyfile(tmp_path / "made-elsewhere.parquet", parquet)
    hub = FakeHub().start()
    hub.add_token(TOKEN, "write", orgs={"test-org": "write"})
    hub.add_repo(REPO)
    try:
        up = script(hub_env(hub, cache, tmp_path, served), "upload.py", "ensembl", "--dry-run")
    finally:
        hub.stop()
    assert up.returncode == 1 and f"{CHR21}.parquet (converted from a {CHR21}.vcf.gz that does not match CHECKSUMS" \
        in up.stderr, up.stderr
    assert status_json(cache, served)[f"ensembl/{SPECIES}/{CHR21}.parquet"]["state"] == "failed"
    v = make("verify", cache=cache, server=served)
    assert v.returncode != 0 and "corrupted VCF(s) removed" in v.stderr and not vcf.exists()
    assert f"{parquet}: converted from a {CHR21}.vcf.gz whose checksum" in v.stderr
    r = make("parquet", cache=cache, server=served)  # downloads it again, converts it
    assert r.returncode == 0, output(r)
    assert pq.read_metadata(parquet).num_rows == vcf_records(vcf) and make("verify", cache=cache,
                                                                           server=served).returncode == 0


# --- a VCF dated in the future; the "already complete" path; fsync before rename ---------------------

def test_a_vcf_dated_in_the_future_is_converted_once(built, served, tmp_path):
    """Before: every `make` converted it again (the new Parquet is older than its VCF), and
    everything after it was rebuilt."""
    cache = copy_cache(built, tmp_path)
    vcf = sdir(cache) / "vcf" / f"{CHR21}.vcf.gz"
    os.utime(vcf, (time.time() + 86400, time.time() + 86400))
    row = status_json(cache, served)[f"ensembl/{SPECIES}/{CHR21}.parquet"]
    assert row["state"] == "stale" and "dated in the future" in row["reason"]
    first = make("parquet", cache=cache, server=served)
    assert first.returncode == 0 and first.stderr.count("is dated in the future") == 1, output(first)
    assert output(first).count("scripts/vcf2parquet.py") == 1
    assert vcf.stat().st_mtime <= time.time()
    again = make("parquet", "longevitymap", cache=cache, server=served, **modenv(served))
    assert again.returncode == 0 and "vcf2parquet.py" not in output(again), output(again)
    third = make("parquet", "longevitymap", cache=cache, server=served, **modenv(served))
    assert "modules.py" not in output(third) and "vcf2parquet.py" not in output(third), output(third)


def test_status_after_the_already_complete_path_says_checksum_ok(built, served, tmp_path):
    cache = copy_cache(built, tmp_path)
    stamp = sdir(cache) / "expected" / f"{CHR21}.vcf.gz"
    os.utime(stamp)  # newer than the VCF (a CHECKSUMS change): the VCF is checked again, still valid
    r = make("download", cache=cache, server=served)
    assert r.returncode == 0 and f"{CHR21}.vcf.gz: already complete" in r.stderr, output(r)
    row = status_json(cache, served)[f"ensembl/{SPECIES}/vcf/{CHR21}.vcf.gz"]
    assert row["checksum_verified"] is True, row


def test_outputs_are_synced_before_they_are_renamed(tmp_path, monkeypatch):
    """vcf2parquet and the module writer used to rename without fsync: a power cut could
    leave a renamed but empty file."""
    import duck
    import pyarrow as pa

    synced: set[str] = set()
    renamed: list[tuple[str, str, bool]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        synced.add(os.readlink(f"/proc/self/fd/{fd}"))
        return real_fsync(fd)

    def replace(src, dst):
        renamed.append((str(src), str(dst), str(src) in synced))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    vcf = synthvcf.write_vcf(tmp_path / "v.vcf.gz", 500, seed=1, chrom="1")
    vcf2parquet.convert(vcf, tmp_path / "v.parquet")
    duck.write_outputs(tmp_path / "m", {"t.parquet": pa.table({"a": [1]}), "t.tsv": pa.table({"a": [1]})})
    finals = {dst: ok for _, dst, ok in renamed}
    for name in (tmp_path / "v.parquet", tmp_path / "m" / "t.parquet", tmp_path / "m" / "t.tsv"):
        assert finals.get(str(name)) is True, (name, renamed)


def test_a_file_written_just_before_a_run_is_not_made_meanwhile(tmp_path):
    """made_meanwhile() compares a file's time with when the run started. psutil's
    create_time() adds a boot time Linux gives in whole seconds, so it was up to a second
    early: a file written just before a run counted as made by another process meanwhile,
    and the run skipped its work ("made meanwhile by another process; nothing to do")."""
    probe = ("import sys; sys.path.insert(0, 'scripts'); import os, outputs; "
             "print(outputs.decided_at()); print(outputs.made_meanwhile([sys.argv[1]], []))")
    for i in range(5):
        made = tmp_path / f"out{i}"
        made.write_bytes(b"written by the run before")
        r = subprocess.run([PY, "-c", probe, str(made)], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        started, meanwhile = r.stdout.split()
        assert float(started) * 1e9 >= made.stat().st_mtime_ns, (started, made.stat().st_mtime_ns)
        assert meanwhile == "False"
    # and a file written after the run started is still seen as made meanwhile
    later = ("import sys, time; sys.path.insert(0, 'scripts'); import outputs; time.sleep(0.05); "
             "open(sys.argv[1], 'w').write('x'); print(outputs.made_meanwhile([sys.argv[1]], []))")
    r = subprocess.run([PY, "-c", later, str(tmp_path / "after")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["True"], r.stderr

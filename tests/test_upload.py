"""scripts/upload.py against a stand-in Hugging Face Hub (tests/hubstub.py): the real
huggingface_hub client runs in a subprocess with HF_ENDPOINT pointing at a real
HTTP server on 127.0.0.1, so every request it makes is real."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub.hf_api import RepoFile

import config
import hubclient
import hubplan
import hubcard
import synthvcf
import upload
import vcf2parquet
from hubstub import FakeHub

ROOT = Path(__file__).resolve().parent.parent
JUST = ROOT / ".venv" / "bin" / "just"
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
SPECIES = "homo_sapiens"
ENS_REPO = "test-org/ensembl_variations"
MOD_REPO = "test-org/annotators"
TOKEN = "hf_test_write_token_0123456789"
WRITE = ["repo.content.read", "repo.access.read", "repo.write"]


# --- fixtures -----------------------------------------------------------------------------

def write_variants(path: Path, chrom: str, ids: list[str], release: str = "115",
                   file_date: str = "20250301") -> None:
    n = len(ids)
    df = pl.DataFrame({
        "chrom": [chrom] * n,
        "start": pl.Series([1000 + 10 * i for i in range(n)], dtype=pl.UInt32),
        "end": pl.Series([1000 + 10 * i for i in range(n)], dtype=pl.UInt32),
        "id": ids,
        "ref": ["A"] * n,
        "alt": ["G|T"] * n,
        "alts": [["G", "T"]] * n,
        "qual": pl.Series([None] * n, dtype=pl.Float64),
        "filter": pl.Series([None] * n, dtype=pl.String),
        "dbSNP_156": [True] * n,
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(path, compression="uncompressed",
                     metadata={"ensembl_release": release, "vcf_file_date": file_date,  # vcf2parquet's keys
                               "source_file": f"{SPECIES}-chr{chrom}.vcf.gz"})


@pytest.fixture
def hub():
    hub = FakeHub().start()
    hub.add_token(TOKEN, "write", orgs={"test-org": "write"})
    hub.add_token("hf_read_token", "read", orgs={"test-org": "write"}, can_write=False)
    # fine-grained, may write to its user's own repos only
    hub.add_token("hf_fine_no_write", "fineGrained", scoped=[("user", "tester", WRITE)],
                  orgs={"test-org": "write"}, can_write=False)
    hub.add_token("hf_fine_org_write", "fineGrained", scoped=[("org", "test-org", WRITE)],
                  orgs={"test-org": "write"}, can_write=True)
    # a write token of a user outside the organisation
    hub.add_token("hf_outsider", "write", name="outsider", orgs={"other-org": "admin"},
                  can_write=False)
    # whoami says it may write, the Hub refuses anyway (e.g. a repo-level restriction)
    hub.add_token("hf_write_refused", "write", orgs={"test-org": "write"}, can_write=False)
    yield hub
    hub.stop()
    assert hub.unknown == [], f"the client called endpoints the stand-in lacks: {hub.unknown}"


def write_manifest(sdir: Path, names: list[str]) -> None:
    """vcf_urls.json as discovery writes it: the species' files, sorted full URLs."""
    sdir.mkdir(parents=True, exist_ok=True)
    base = f"https://ftp.example.org/vcf/{sdir.name}/"
    (sdir / "vcf_urls.json").write_text(json.dumps(sorted(base + n for n in names)))


@pytest.fixture
def cache(tmp_path) -> Path:
    cache = tmp_path / "cache"
    sdir = cache / "ensembl" / SPECIES
    write_manifest(sdir, [f"{SPECIES}-chr21.vcf.gz", f"{SPECIES}-chr22.vcf.gz"])
    write_variants(sdir / f"{SPECIES}-chr21.parquet", "21", ["rs100", "rs101", "rs102"])
    write_variants(sdir / f"{SPECIES}-chr22.parquet", "22", ["rs200", "rs201"])
    return cache


def species_dir(cache: Path) -> Path:
    return cache / "ensembl" / SPECIES


def make_env(hub: FakeHub, cache: Path, tmp_path: Path, token: str | None = TOKEN, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HF_") and not k.lower().endswith("_proxy")
           and k.lower() not in config.DEFAULTS and k not in ("FORCE", "PA_CONFIG",
                                                               "JUST_DNA_PIPELINES_CACHE_DIR")}
    env.update(CACHE_DIR=str(cache), SPECIES=SPECIES, HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1",
               HF_HUB_DISABLE_TELEMETRY="1", HF_HOME=str(tmp_path / "hf-home"),
               HF_ENSEMBL_REPO=ENS_REPO, HF_MODULES_REPO=MOD_REPO, RETRIES="0", RETRY_BACKOFF="0.01",
               NO_PROXY="127.0.0.1,localhost")
    if token:
        env["HF_TOKEN"] = token
    env.update(extra)
    return env


def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, str(ROOT / "scripts" / "upload.py"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def log_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def writes(requests: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Requests that change (or prepare to change) the remote."""
    return [(m, p) for m, p in requests
            if re.search(r"/preupload/|/lfs/objects/batch|^/lfs-|/commit/|/repos/create|validate-yaml", p)]


# --- end to end ---------------------------------------------------------------------------

def test_first_upload_then_nothing_changed(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    sdir = species_dir(cache)
    # Stray files next to the real ones: none of them may be published.
    (sdir / f".{SPECIES}-chr21.parquet.4242.tmp").write_bytes(b"half written")
    (sdir / f"{SPECIES}-chr21.parquet.part").write_bytes(b"partial")
    (sdir / "notes.parquet").write_bytes(b"not ours")
    (sdir / f"{SPECIES}-chrX copy.parquet").write_bytes(b"unsafe name")
    (sdir / f"{SPECIES}-dir.parquet").mkdir()
    (sdir / "vcf").mkdir()
    (sdir / "vcf" / f"{SPECIES}-chr21.vcf.gz").write_bytes(b"vcf")  # converted: older than its Parquet
    os.utime(sdir / "vcf" / f"{SPECIES}-chr21.vcf.gz", (1e9, 1e9))
    (sdir / "CHECKSUMS").write_text("1 2 x\n")
    env = make_env(hub, cache, tmp_path)

    first = run(env, "ensembl")
    assert first.returncode == 0, first.stderr
    files = hub.files(ENS_REPO)
    assert set(files) == {".gitattributes", "README.md", f"data/{SPECIES}-chr21.parquet",
                          f"data/{SPECIES}-chr22.parquet"}
    for name in (f"{SPECIES}-chr21.parquet", f"{SPECIES}-chr22.parquet"):
        assert files[f"data/{name}"] == (sdir / name).read_bytes()
    commits = hub.commits(ENS_REPO)
    assert len(commits) == 2  # the repo's initial commit + exactly one upload commit
    assert "release 115" in commits[-1]["summary"] and "add 2 of 2" in commits[-1]["summary"]

    (record,) = log_records(sdir / "steps.jsonl")
    assert record["outcome"] == "ok" and record["repo"] == ENS_REPO
    assert record["commit"] == commits[-1]["oid"]
    assert {u["path"] for u in record["uploaded"]} == {"README.md", f"data/{SPECIES}-chr21.parquet",
                                                       f"data/{SPECIES}-chr22.parquet"}
    assert all(u["reason"].startswith("new") for u in record["uploaded"]) and record["skipped"] == []
    assert record["time"] and record["seconds"] >= 0

    # Nothing changed locally: no commit, nothing sent, every file skipped with a reason.
    before = len(hub.requests)
    second = run(env, "ensembl")
    assert second.returncode == 0, second.stderr
    assert len(hub.commits(ENS_REPO)) == 2
    assert writes(hub.requests[before:]) == []
    assert "0 of 3 files to upload" in second.stdout
    assert second.stdout.count("unchanged") == 3
    last = log_records(sdir / "steps.jsonl")[-1]
    assert last["commit"] is None and last["uploaded"] == [] and len(last["skipped"]) == 3
    # The token is never printed nor logged.
    for text in (first.stdout, first.stderr, second.stdout, second.stderr,
                 (sdir / "steps.jsonl").read_text()):
        assert TOKEN not in text


def test_changed_file_with_same_size_is_uploaded_alone(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    env = make_env(hub, cache, tmp_path)
    assert run(env, "ensembl").returncode == 0
    sdir = species_dir(cache)
    path = sdir / f"{SPECIES}-chr22.parquet"
    old = path.read_bytes()
    write_variants(path, "22", ["rs200", "rs209"])  # same length, other content
    new = path.read_bytes()
    assert len(new) == len(old) and new != old  # precondition of this test
    unchanged_oid = hubclient.hash_file(sdir / f"{SPECIES}-chr21.parquet",
                                     (sdir / f"{SPECIES}-chr21.parquet").stat().st_size)[0]
    puts_before = hub.count("PUT", unchanged_oid)

    result = run(env, "ensembl")
    assert result.returncode == 0, result.stderr
    assert re.search(rf"upload\s+data/{SPECIES}-chr22.parquet .*changed \(SHA-256 differs\)", result.stdout)
    assert re.search(rf"skip\s+data/{SPECIES}-chr21.parquet .*unchanged", result.stdout)
    commits = hub.commits(ENS_REPO)
    assert len(commits) == 3
    assert commits[-1]["paths"] == [f"data/{SPECIES}-chr22.parquet"]  # the card did not change
    assert "update 1 of 2" in commits[-1]["summary"]
    assert hub.files(ENS_REPO)[f"data/{SPECIES}-chr22.parquet"] == new
    assert hub.count("PUT", unchanged_oid) == puts_before


def test_digest_cache_is_trusted_while_size_and_mtime_match(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    env = make_env(hub, cache, tmp_path)
    assert run(env, "ensembl").returncode == 0
    digests = json.loads((cache / hubclient.DIGEST_CACHE).read_text())
    path = species_dir(cache) / f"{SPECIES}-chr22.parquet"
    assert digests[str(path.resolve())]["size"] == path.stat().st_size

    # Same size and mtime but other content: a run that re-read the file would see the
    # change; the cached digest is used instead, so the file is reported unchanged.
    st = path.stat()
    write_variants(path, "22", ["rs200", "rs208"])
    assert path.stat().st_size == st.st_size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    trusted = run(env, "ensembl")
    assert trusted.returncode == 0, trusted.stderr
    assert "0 of 3 files to upload" in trusted.stdout
    assert len(hub.commits(ENS_REPO)) == 2

    # A new mtime invalidates the entry: the file is hashed again and uploaded.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    rehashed = run(env, "ensembl")
    assert rehashed.returncode == 0, rehashed.stderr
    assert "1 of 3 files to upload" in rehashed.stdout
    assert hub.files(ENS_REPO)[f"data/{SPECIES}-chr22.parquet"] == path.read_bytes()


def test_dry_run_sends_nothing(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    env = make_env(hub, cache, tmp_path)
    result = run(env, "ensembl", "--dry-run")
    assert result.returncode == 0, result.stderr
    sizes = [(species_dir(cache) / f"{SPECIES}-chr{c}.parquet").stat().st_size for c in (21, 22)]
    total = re.search(r"3 of 3 files to upload, .* to send \(([\d,]+) bytes\)", result.stdout)
    assert total and int(total.group(1).replace(",", "")) > sum(sizes)  # files + card
    assert result.stdout.count("new (not on the Hub)") == 3
    assert "dry run" in result.stdout
    assert writes(hub.requests) == []
    assert set(hub.files(ENS_REPO)) == {".gitattributes"}
    assert len(hub.commits(ENS_REPO)) == 1
    assert log_records(species_dir(cache) / "steps.jsonl") == []


def test_dry_run_without_token_or_hub_still_plans(cache, tmp_path):
    hub = FakeHub().start()
    url = hub.url
    hub.stop()  # nothing listens there any more
    env = make_env(hub, cache, tmp_path, token=None, HF_ENDPOINT=url)
    result = run(env, "ensembl", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("remote unknown") == 3
    assert "no Hugging Face token" in result.stdout and "could not read" in result.stdout


def test_missing_token(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    result = run(make_env(hub, cache, tmp_path, token=None), "ensembl")
    assert result.returncode == 1
    assert "no Hugging Face token" in result.stderr and "HF_TOKEN" in result.stderr
    assert hub.requests == []
    assert not (cache / hubclient.DIGEST_CACHE).exists()  # nothing was hashed


def upload_shown(env: dict) -> tuple[dict, str]:
    """The Hub repo's upload entry in `status --json`, and status's text (what the page and
    the terminal show)."""
    got = subprocess.run([PY, str(ROOT / "scripts" / "status.py"), "--json"], env=env, capture_output=True,
                         text=True, timeout=60)
    text = subprocess.run([PY, str(ROOT / "scripts" / "status.py")], env=env, capture_output=True, text=True,
                          timeout=60).stdout
    (entry,) = [u for u in json.loads(got.stdout)["uploads"] if u["repo"] == ENS_REPO]
    return entry, text


def test_an_upload_refused_for_want_of_a_token_is_a_refusal_not_a_failed_upload(hub, cache, tmp_path):
    """Nothing was attempted: the step log says "refused", status and the page do not
    show a failed upload (the Hub box stays neutral, or keeps the last upload's state)."""
    hub.add_repo(ENS_REPO)
    env = make_env(hub, cache, tmp_path, token=None)
    result = run(env, "ensembl")
    assert result.returncode == 1 and "no Hugging Face token" in result.stderr
    (record,) = log_records(species_dir(cache) / "steps.jsonl")
    assert record["outcome"] == "refused" and "no Hugging Face token" in record["message"]
    entry, text = upload_shown(env)
    assert entry["state"] == "refused" and entry["state"] != "failed"
    assert entry["refused"]["message"].startswith("no Hugging Face token")
    assert f"upload to {ENS_REPO} (ensembl) refused at" in text and "nothing sent" in text
    # after a real upload, a refusal leaves the last upload's state and is told beside it
    assert run(make_env(hub, cache, tmp_path), "ensembl").returncode == 0
    assert run(env, "ensembl").returncode == 1
    entry, text = upload_shown(env)
    assert entry["state"] == "up to date" and entry["outcome"] == "ok" and entry["commit"]
    assert entry["refused"] and "no Hugging Face token" in entry["refused"]["message"]
    assert "then refused at" in text
    # a failed attempt is still a failure
    assert run(make_env(hub, cache, tmp_path, token="hf_write_refused"), "ensembl").returncode == 0  # no change
    (cache / "ensembl" / SPECIES / f"{SPECIES}-chr22.parquet").write_bytes(b"")
    write_variants(species_dir(cache) / f"{SPECIES}-chr22.parquet", "22", ["rs300"])
    assert run(make_env(hub, cache, tmp_path, token="hf_write_refused"), "ensembl").returncode == 1
    entry, _ = upload_shown(env)
    assert entry["state"] == "failed" and entry["refused"] is None


def test_token_from_login_cache(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    env = make_env(hub, cache, tmp_path, token=None)
    Path(env["HF_HOME"]).mkdir(parents=True)
    (Path(env["HF_HOME"]) / "token").write_text(TOKEN)
    result = run(env, "ensembl")
    assert result.returncode == 0, result.stderr
    assert len(hub.commits(ENS_REPO)) == 2
    assert TOKEN not in result.stdout + result.stderr


def test_rejected_token_401(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    result = run(make_env(hub, cache, tmp_path, token="hf_not_a_valid_token"), "ensembl")
    assert result.returncode == 1
    assert "rejected the token (401" in result.stderr
    assert "hf_not_a_valid_token" not in result.stdout + result.stderr
    assert hub.requests == [("GET", "/api/whoami-v2")]
    assert not (cache / hubclient.DIGEST_CACHE).exists()


@pytest.mark.parametrize("token, message", [
    ("hf_read_token", "read-only"),
    ("hf_fine_no_write", "fine-grained token of tester has no repo.write permission on test-org"),
    ("hf_outsider", "outsider is not a member of the organisation test-org"),
])
def test_token_without_write_access_stops_before_hashing(hub, cache, tmp_path, token, message):
    hub.add_repo(ENS_REPO)
    result = run(make_env(hub, cache, tmp_path, token=token), "ensembl")
    assert result.returncode == 1
    assert message in result.stderr and f"datasets/{ENS_REPO}" in result.stderr
    assert hub.requests == [("GET", "/api/whoami-v2")]
    assert not (cache / hubclient.DIGEST_CACHE).exists()  # nothing was hashed
    assert token not in result.stdout + result.stderr


def test_fine_grained_token_with_org_write_uploads(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    result = run(make_env(hub, cache, tmp_path, token="hf_fine_org_write"), "ensembl")
    assert result.returncode == 0, result.stderr
    assert len(hub.commits(ENS_REPO)) == 2


def test_forbidden_403_leaves_remote_unchanged(hub, cache, tmp_path):
    """whoami cannot foresee every refusal: a 403 from the write endpoints still ends
    with a clear message and the repo as it was."""
    hub.add_repo(ENS_REPO)
    result = run(make_env(hub, cache, tmp_path, token="hf_write_refused"), "ensembl")
    assert result.returncode == 1
    assert "403 Forbidden" in result.stderr and "Nothing was committed" in result.stderr
    assert set(hub.files(ENS_REPO)) == {".gitattributes"}
    (record,) = log_records(species_dir(cache) / "steps.jsonl")
    assert record["outcome"] == "failed" and "403" in record["message"]


def test_failure_mid_upload_leaves_remote_unchanged(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    env = make_env(hub, cache, tmp_path)
    assert run(env, "ensembl").returncode == 0
    before_files, before_commits = hub.files(ENS_REPO), hub.commits(ENS_REPO)
    path = species_dir(cache) / f"{SPECIES}-chr21.parquet"
    write_variants(path, "21", ["rs100", "rs101", "rs102", "rs103"])
    new_oid = hubclient.hash_file(path, path.stat().st_size)[0]
    hub.fail("POST", r"/commit/", 500, times=10)  # the LFS upload succeeds, the commit fails

    failed = run(env, "ensembl")
    assert failed.returncode == 1
    assert "Nothing was committed" in failed.stderr and "run the same command again" in failed.stderr
    assert hub.count("PUT", new_oid) == 1  # the content reached the Hub's storage...
    assert hub.files(ENS_REPO) == before_files  # ...but the repo is as it was
    assert hub.commits(ENS_REPO) == before_commits
    assert log_records(species_dir(cache) / "steps.jsonl")[-1]["outcome"] == "failed"

    hub.faults.clear()
    again = run(env, "ensembl")
    assert again.returncode == 0, again.stderr
    assert hub.files(ENS_REPO)[f"data/{SPECIES}-chr21.parquet"] == path.read_bytes()
    assert hub.count("PUT", new_oid) == 1  # not sent twice
    assert len(hub.commits(ENS_REPO)) == len(before_commits) + 1


def test_network_failures_are_retried(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    hub.fail("PUT", r"/lfs-upload/", "drop", times=1)  # connection lost during an upload
    hub.fail("POST", r"/commit/", 503, times=1)        # then the commit endpoint hiccups
    result = run(make_env(hub, cache, tmp_path, RETRIES="2"), "ensembl")
    assert result.returncode == 0, result.stderr
    assert "retry 1/2 in" in result.stderr
    assert hub.count("PUT", r"^/lfs-upload/") == 3  # two files, one of them twice
    assert hub.count("POST", r"/commit/") == 2
    commits = hub.commits(ENS_REPO)
    assert len(commits) == 2
    assert set(hub.files(ENS_REPO)) == {".gitattributes", "README.md", f"data/{SPECIES}-chr21.parquet",
                                        f"data/{SPECIES}-chr22.parquet"}


def test_lost_commit_response_is_recorded_as_this_runs_commit(hub, cache, tmp_path):
    """The Hub applies the commit but the answer never arrives: the retry finds nothing
    left to send, and the run records the new head as its commit with what it sent."""
    hub.add_repo(ENS_REPO)
    hub.fail("POST", r"/commit/", "drop-after", times=1)
    result = run(make_env(hub, cache, tmp_path, RETRIES="2"), "ensembl")
    assert result.returncode == 0, result.stderr
    commits = hub.commits(ENS_REPO)
    assert len(commits) == 2 and hub.count("POST", r"/commit/") == 1  # committed once
    assert "answer was lost" in result.stderr
    (record,) = log_records(species_dir(cache) / "steps.jsonl")
    assert record["outcome"] == "ok" and record["commit"] == commits[-1]["oid"]
    assert {u["path"] for u in record["uploaded"]} == {"README.md", f"data/{SPECIES}-chr21.parquet",
                                                       f"data/{SPECIES}-chr22.parquet"}
    assert record["bytes_sent"] == sum(u["bytes"] for u in record["uploaded"]) > 0


def test_rate_limit_honours_retry_after(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    hub.fail("POST", r"/paths-info/", 429, headers={"Retry-After": "1"})
    result = run(make_env(hub, cache, tmp_path, RETRIES="1"), "ensembl")
    assert result.returncode == 0, result.stderr
    assert re.search(r"429.*retry 1/1 in 1\.0 s", result.stderr)  # not the 0.01 s backoff
    assert len(hub.commits(ENS_REPO)) == 2


def test_missing_repo_is_created_only_with_flag(hub, cache, tmp_path):
    env = make_env(hub, cache, tmp_path)
    refused = run(env, "ensembl")
    assert refused.returncode == 1
    assert "not found" in refused.stderr and "--create-repo" in refused.stderr
    assert ENS_REPO not in hub.repos and writes(hub.requests) == []

    created = run(env, "ensembl", "--create-repo")
    assert created.returncode == 0, created.stderr
    assert f"data/{SPECIES}-chr21.parquet" in hub.files(ENS_REPO)


def test_no_parquet_files_is_a_clear_error(hub, tmp_path):
    env = make_env(hub, tmp_path / "empty-cache", tmp_path)
    result = run(env, "ensembl", "--dry-run")
    assert result.returncode == 1
    assert "make parquet" in result.stderr and "vcf_urls.json" in result.stderr and hub.requests == []


def test_only_the_manifest_set_is_published_and_strays_are_listed(hub, cache, tmp_path):
    """The species directory is shared with the older Dagster tool: its interrupted
    conversions (<species>-chrN.tmp.parquet) and index files are *.parquet too. Only
    the discovery manifest's targets go out; the dry run lists the others as ignored."""
    hub.add_repo(ENS_REPO)
    sdir = species_dir(cache)
    write_variants(sdir / f"{SPECIES}-chr3.tmp.parquet", "3", ["rs300"])
    write_variants(sdir / "rsid_index.parquet", "1", ["rs1"])
    write_variants(sdir / f"{SPECIES}-chr1.parquet", "1", ["rs1"])  # not in this manifest
    env = make_env(hub, cache, tmp_path)
    dry = run(env, "ensembl", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert re.search(rf"ignore\s+{SPECIES}-chr3\.tmp\.parquet .*temporary file of an interrupted conversion",
                     dry.stdout), dry.stdout
    assert re.search(r"ignore\s+rsid_index\.parquet .*not a target of the discovery manifest", dry.stdout)
    assert re.search(rf"ignore\s+{SPECIES}-chr1\.parquet .*not a target", dry.stdout)
    assert "3 of 3 files to upload" in dry.stdout and "; 3 ignore." in dry.stdout

    result = run(env, "ensembl")
    assert result.returncode == 0, result.stderr
    assert set(hub.files(ENS_REPO)) == {".gitattributes", "README.md", f"data/{SPECIES}-chr21.parquet",
                                        f"data/{SPECIES}-chr22.parquet"}
    (record,) = log_records(sdir / "steps.jsonl")
    assert sorted(Path(n["path"]).name for n in record["not_sent"]) == sorted(
        [f"{SPECIES}-chr1.parquet", f"{SPECIES}-chr3.tmp.parquet", "rsid_index.parquet"])
    card = hub.files(ENS_REPO)["README.md"].decode()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["configs"][0]["data_files"][0]["path"] == [f"data/{SPECIES}-chr21.parquet",
                                                           f"data/{SPECIES}-chr22.parquet"]
    assert "tmp" not in card and "rsid_index" not in card


def test_missing_or_stale_parquet_stops_unless_partial(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    sdir = species_dir(cache)
    write_manifest(sdir, [f"{SPECIES}-chr{c}.vcf.gz" for c in ("21", "22", "X", "Y")])
    (sdir / "vcf").mkdir()
    # chr21: its VCF was deleted after conversion (disk space): still part of the set.
    # chr22: its VCF was downloaded again after the conversion: the Parquet is stale.
    (sdir / "vcf" / f"{SPECIES}-chr22.vcf.gz").write_bytes(b"newer vcf")
    os.utime(sdir / f"{SPECIES}-chr22.parquet", (1e9, 1e9))
    # chrX: downloaded, never converted; chrY: neither.
    (sdir / "vcf" / f"{SPECIES}-chrX.vcf.gz").write_bytes(b"vcf")
    env = make_env(hub, cache, tmp_path)
    for args in (["--dry-run"], []):
        stopped = run(env, "ensembl", *args)
        assert stopped.returncode == 1
        for expected in (f"{SPECIES}-chr22.parquet (older than its VCF vcf/{SPECIES}-chr22.vcf.gz)",
                         f"{SPECIES}-chrX.parquet (no Parquet)", f"{SPECIES}-chrY.parquet (no Parquet)",
                         "3 of the 4 files", "--allow-partial", "make parquet"):
            assert expected in stopped.stderr, stopped.stderr
        assert f"{SPECIES}-chr21.parquet" not in stopped.stderr
    assert writes(hub.requests) == [] and set(hub.files(ENS_REPO)) == {".gitattributes"}

    partial = run(env, "ensembl", "--allow-partial")
    assert partial.returncode == 0, partial.stderr
    assert re.search(rf"omit\s+{SPECIES}-chrX\.parquet\s+-\s+not ready: no Parquet", partial.stdout)
    files = hub.files(ENS_REPO)
    assert set(files) == {".gitattributes", "README.md", f"data/{SPECIES}-chr21.parquet"}
    card = files["README.md"].decode()
    assert "| Files | 1 of 4 (partial) |" in card
    assert "Included: chr21. Not included: chr22, chrX, chrY." in card


# --- stale files on the Hub: listed, pruned in the same commit --------------------------------

def test_ensembl_stale_files_are_listed_and_pruned_only_with_prune(hub, cache, tmp_path):
    """A stray file an older version published under data/ (not in the release's set) is
    listed as stale on the Hub by every plan; --prune deletes it in the same commit as the
    upload; --dry-run deletes nothing; a set file that is only not ready is not stale."""
    stray = "data/homo_sapiens-chr3.tmp.parquet"
    hub.put(ENS_REPO, {stray: b"PAR1 interrupted conversion of an older tool PAR1",
                       f"data/{SPECIES}-chr21.parquet": b"PAR1 old chr21 PAR1", "data/notes.txt": b"old notes\n"})
    env = make_env(hub, cache, tmp_path)
    before = len(hub.commits(ENS_REPO))
    for args in (["--dry-run"], ["--dry-run", "--prune"]):
        dry = run(env, "ensembl", *args)
        assert dry.returncode == 0, dry.stderr
        action = "delete" if "--prune" in args else "stale"
        lines = dry.stdout.splitlines()
        for path in (stray, "data/notes.txt"):
            (line,) = [x for x in lines if path in x]
            assert line.split()[0] == action and "stale on the Hub" in line
            assert lines.index(line) < min(i for i, x in enumerate(lines) if x.strip().startswith("upload"))
        assert ("--prune deletes it" in dry.stdout) == (action == "stale")
        assert f"2 {'to delete' if action == 'delete' else 'stale on the Hub, kept'}" in dry.stdout
    assert writes(hub.requests) == [] and len(hub.commits(ENS_REPO)) == before
    assert stray in hub.files(ENS_REPO)
    # Without --prune: published, the stale files stay (and are still listed).
    kept = run(env, "ensembl")
    assert kept.returncode == 0, kept.stderr
    assert stray in hub.files(ENS_REPO) and hub.commits(ENS_REPO)[-1]["deleted"] == []
    assert "stale   " + stray in kept.stdout
    # With --prune: the deletion alone is a commit (nothing else changed) ...
    pruned = run(env, "ensembl", "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert len(hub.commits(ENS_REPO)) == before + 2
    assert hub.commits(ENS_REPO)[-1]["deleted"] == sorted([stray, "data/notes.txt"])
    assert hub.commits(ENS_REPO)[-1]["paths"] == []
    assert not {stray, "data/notes.txt"} & set(hub.files(ENS_REPO))
    assert "delete 2 stale files" in hub.commits(ENS_REPO)[-1]["summary"]
    # ... and then nothing is left to do.
    again = run(env, "ensembl", "--prune")
    assert again.returncode == 0 and len(hub.commits(ENS_REPO)) == before + 2 and "no commit" in again.stderr
    # In the same commit as an upload; the record says what was deleted.
    hub.put(ENS_REPO, {stray: b"PAR1 back again PAR1"})
    write_variants(species_dir(cache) / f"{SPECIES}-chr22.parquet", "22", ["rs200", "rs201", "rs202"])
    both = run(env, "ensembl", "--prune")
    assert both.returncode == 0, both.stderr
    last = hub.commits(ENS_REPO)[-1]
    assert last["deleted"] == [stray] and f"data/{SPECIES}-chr22.parquet" in last["paths"]
    record = log_records(species_dir(cache) / "steps.jsonl")[-1]
    assert record["deleted"] == [stray] and record["commit"] == last["oid"]
    # `status` (and so the page and the report, which draw its document) says so too.
    status = [PY, str(ROOT / "scripts" / "status.py")]
    doc = subprocess.run([*status, "--json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    (shown,) = [u for u in json.loads(doc.stdout)["uploads"] if u["repo"] == ENS_REPO]
    assert shown["deleted"] == [stray] and shown["commit"] == last["oid"]
    text = subprocess.run(status, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    (line,) = [x for x in text.splitlines() if x.startswith(f"last upload to {ENS_REPO}")]
    assert f"{len(shown['uploaded'])} uploaded, " in line and ", 1 deleted, " in line, line


def test_ensembl_prune_keeps_the_sets_files_that_are_not_ready(hub, cache, tmp_path):
    """--allow-partial --prune: a file of the release's set that is not ready locally is
    omitted, not stale: the Hub's copy stays."""
    hub.put(ENS_REPO, {f"data/{SPECIES}-chr22.parquet": b"PAR1 published earlier PAR1"})
    (species_dir(cache) / f"{SPECIES}-chr22.parquet").unlink()
    result = run(make_env(hub, cache, tmp_path), "ensembl", "--allow-partial", "--prune")
    assert result.returncode == 0, result.stderr
    assert f"data/{SPECIES}-chr22.parquet" in hub.files(ENS_REPO) and hub.commits(ENS_REPO)[-1]["deleted"] == []


# --- the modules: every changed module in one commit; a module's folder is ours --------------

def build_modules(cache: Path, tmp_path: Path, names=None, rows: dict | None = None, **env: str) -> dict[str, Path]:
    """The modules as `make modules` writes them: each synthetic source (modfixtures), with
    its logo, against the demo mirror's records, through the build step (tables, sources,
    manifest, metadata). ``rows``: {module: builder keyword arguments}. Returns {module: dir}."""
    import modfixtures
    import moduledef
    import modules as runner
    from helpers import demo_record, write_ensembl

    import lmfixture

    cfg = config.load(env={"CACHE_DIR": str(cache), **env})
    ens = write_ensembl(tmp_path / "ens" / f"{SPECIES}-chr19.parquet",
                        [demo_record(v) for v in lmfixture.DEMO_VARIANTS + modfixtures.DEMO_VARIANTS])
    out = {}
    for name in names or [n for n in moduledef.all_modules() if n in modfixtures.BUILDERS]:
        module = moduledef.get(name)
        source = modfixtures.build_source(name, tmp_path / "src" / name / module.source["file"],
                                          **(rows or {}).get(name, {}))
        if module.meta.get("logo"):
            module.dir(cfg).mkdir(parents=True, exist_ok=True)
            (module.dir(cfg) / "logo.png").write_bytes(modfixtures.png())
        runner.build_step(cfg, module, [str(ens)], source)
        out[name] = module.dir(cfg)
    return out


def published_files(dirs: dict[str, Path]) -> dict[str, bytes]:
    import moduledef

    return {f"data/{name}/{p.name}": p.read_bytes() for name, d in dirs.items() for p in sorted(d.iterdir())
            if p.name in moduledef.PUBLISHED or p.name.startswith("logo.")}


def test_every_changed_module_in_one_commit_and_none_when_unchanged(hub, tmp_path):
    hub.add_repo(MOD_REPO)
    cache = tmp_path / "cache"
    dirs = build_modules(cache, tmp_path)
    assert sorted(dirs) == ["coronary", "drugs", "lipidmetabolism", "longevitymap", "superhuman", "vo2max"]
    env = make_env(hub, cache, tmp_path)
    dry = run(env, "modules", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    expected = published_files(dirs)
    assert len(expected) == 6 * 6 + 4  # 4 tables, manifest, metadata each; logos of four modules
    assert f"{len(expected)} of {len(expected)} files to upload" in dry.stdout
    assert writes(hub.requests) == [] and len(hub.commits(MOD_REPO)) == 1
    result = run(env, "modules")
    assert result.returncode == 0, result.stderr
    commits = hub.commits(MOD_REPO)
    assert len(commits) == 2 and commits[-1]["paths"] == sorted(expected) and commits[-1]["deleted"] == []
    assert commits[-1]["summary"].startswith("modules coronary, drugs, lipidmetabolism, longevitymap")
    files = hub.files(MOD_REPO)
    assert {p: files[p] for p in expected} == expected
    meta = yaml.safe_load(files["data/longevitymap/metadata.yaml"])
    assert meta["source"] == "https://github.com/dna-seq/just_longevitymap" and str(tmp_path) not in str(meta)
    assert meta["logo"].endswith("just_dna_seq.jpg")  # no logo file: the Just-DNA logo, by URL
    assert yaml.safe_load(files["data/coronary/metadata.yaml"])["logo"] == "logo.png"
    # Nothing changed: no commit.
    again = run(env, "modules")
    assert again.returncode == 0 and "no commit" in again.stderr and len(hub.commits(MOD_REPO)) == 2
    # One module rebuilt from a changed curation: one commit with exactly its changed files.
    import modfixtures

    rows = [(*r[:2], "-0.7" if r[:2] == ("rs429358", "CC") else r[2], r[3]) for r in modfixtures.LIPID_WEIGHTS]
    build_modules(cache, tmp_path, ["lipidmetabolism"], rows={"lipidmetabolism": {"weights": rows}})
    changed = run(env, "modules")
    assert changed.returncode == 0, changed.stderr
    last = hub.commits(MOD_REPO)[-1]
    assert len(hub.commits(MOD_REPO)) == 3
    assert {"data/lipidmetabolism/weights.parquet", "data/lipidmetabolism/manifest.json"} <= set(last["paths"])
    assert all(p.startswith("data/lipidmetabolism/") for p in last["paths"])
    record = log_records(cache / "modules" / "steps.jsonl")[-1]
    assert record["kind"] == "modules" and record["commit"] == last["oid"]


def test_a_modules_folder_is_ours_stale_files_deleted_in_the_same_commit(hub, tmp_path):
    """Files under data/<module>/ that the build no longer produces (an old logo.png the
    consumer would prefer, a metadata.json it would read first, a renamed table) are listed
    first and deleted in the upload's commit; --dry-run deletes nothing; a module outside
    the set, and anything outside data/<module>/, is left alone."""
    import modfixtures

    stale = {"data/longevitymap/logo.png": modfixtures.png(rgb=(1, 2, 3)),
             "data/longevitymap/metadata.json": b'{"name": "longevitymap"}',
             "data/longevitymap/old_weights.parquet": b"PAR1 renamed table PAR1"}
    others = {"data/vo2max/weights.parquet": b"PAR1 not in the set PAR1", "data/longevitymapx/notes.txt": b"x\n"}
    hub.put(MOD_REPO, {**stale, **others})
    cache = tmp_path / "cache"
    dirs = build_modules(cache, tmp_path, ["longevitymap", "coronary"])
    env = make_env(hub, cache, tmp_path, MODULES="longevitymap,coronary")
    before = len(hub.commits(MOD_REPO))
    dry = run(env, "modules", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = [line for line in dry.stdout.splitlines() if line.startswith("  ")]
    assert [line.split()[1] for line in lines[:3]] == sorted(stale)  # listed first
    assert all(line.split()[0] == "delete" and "stale on the Hub" in line for line in lines[:3])
    assert "3 to delete" in dry.stdout and "nothing deleted" in dry.stdout
    assert writes(hub.requests) == [] and len(hub.commits(MOD_REPO)) == before
    result = run(env, "modules")
    assert result.returncode == 0, result.stderr
    assert len(hub.commits(MOD_REPO)) == before + 1
    last = hub.commits(MOD_REPO)[-1]
    assert last["deleted"] == sorted(stale) and last["paths"] == sorted(published_files(dirs))
    files = hub.files(MOD_REPO)
    assert not set(stale) & set(files) and {p: files[p] for p in others} == others
    assert "delete 3 stale files" in last["summary"]


def test_module_upload_refuses_bytes_that_no_longer_match_the_manifest(hub, tmp_path):
    hub.add_repo(MOD_REPO)
    cache = tmp_path / "cache"
    dirs = build_modules(cache, tmp_path, ["coronary"])
    weights = dirs["coronary"] / "weights.parquet"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x40
    weights.write_bytes(bytes(data))
    result = run(make_env(hub, cache, tmp_path, MODULES="coronary"), "modules")
    assert result.returncode == 1
    assert f"{weights} no longer matches its manifest.json" in result.stderr and "make coronary FORCE=1" in result.stderr
    assert hub.requests == [] and len(hub.commits(MOD_REPO)) == 1
    (dirs["coronary"] / "sources.parquet").unlink()
    missing = run(make_env(hub, cache, tmp_path, MODULES="coronary"), "modules")
    assert missing.returncode == 1 and "has no sources.parquet: run `make coronary` first" in missing.stderr


# --- the module as just-dna-lite reads it: manifest.json ---------------------------------------

def test_module_manifest_as_the_consumer_reads_it(hub, tmp_path):
    """manifest.json beside the tables: identity.version, artifact.digest (just-dna-format's
    Merkle digest over the tables' SHA-256 listing, recomputed here), weighting, licence, and
    the attested tables (sources.parquet among them, so that discovery finds the credits);
    the digest moves exactly when a table's bytes do."""
    import hashlib

    import lmfixture
    import modcard

    hub.add_repo(MOD_REPO)
    cache = tmp_path / "cache"
    dirs = build_modules(cache, tmp_path, ["longevitymap"], LONGEVITYMAP_VERSION="1.2.3")
    env = make_env(hub, cache, tmp_path, MODULES="longevitymap")
    assert (r := run(env, "modules")).returncode == 0, r.stderr
    files = hub.files(MOD_REPO)
    man = json.loads(files["data/longevitymap/manifest.json"])
    assert man["identity"] == {"name": "longevitymap", "version": "1.2.3"}
    assert man["display"]["title"] == "Longevity Map" and man["license"] == "AGPL-3.0"
    assert all(man["weighting"][k] for k in ("scale", "method", "note"))
    assert man["logo"] is None and man["curator"] == "Olga Borysova" and man["genome_build"] == "GRCh38"
    listed = man["artifact"]["files"]
    assert [e["name"] for e in listed] == ["annotations.parquet", "sources.parquet", "studies.parquet",
                                           "weights.parquet"]
    for entry in listed:
        data = files[f"data/longevitymap/{entry['name']}"]
        assert entry == {"name": entry["name"], "size": len(data),
                         "sha256": "sha256:" + hashlib.sha256(data).hexdigest()}
    canonical = json.dumps(sorted(listed, key=lambda e: e["name"]), sort_keys=True, separators=(",", ":"))
    assert man["artifact"]["digest"] == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    weights = pl.read_parquet(dirs["longevitymap"] / "weights.parquet")
    assert man["stats"]["weights_rows"] == weights.height > 0
    assert man["stats"]["variant_count"] == weights["rsid"].n_unique()
    # The published weights carry clin_sig: APOE e4 is a risk factor, not "uncertain".
    e4 = weights.filter(pl.col("rsid") == "rs429358")
    assert set(e4["clin_sig"]) == {"risk_factor"} and set(e4["state"]) == {"risk"}

    # Rebuilt from the same inputs: same bytes, same digest, nothing to publish.
    build_modules(cache, tmp_path, ["longevitymap"], LONGEVITYMAP_VERSION="1.2.3")
    assert (r := run(env, "modules")).returncode == 0 and "0 of 6 files to upload" in r.stdout
    # A changed curation changes a table, so the digest; the version is what the config says.
    rows = list(lmfixture.ALLELE_WEIGHTS)
    assert rows[1][4:6] == (1.0, "rs7412")  # T/T
    rows[1] = (*rows[1][:4], 0.9, *rows[1][5:])
    build_modules(cache, tmp_path, ["longevitymap"], rows={"longevitymap": {"allele_weights": rows}},
                  LONGEVITYMAP_VERSION="1.2.3")
    assert (r := run(env, "modules")).returncode == 0, r.stderr
    again = json.loads(hub.files(MOD_REPO)["data/longevitymap/manifest.json"])
    assert again["artifact"]["digest"] != man["artifact"]["digest"]
    changed = {e["name"] for e in again["artifact"]["files"] if e not in listed}
    assert "weights.parquet" in changed and again["identity"]["version"] == "1.2.3"
    assert "data/longevitymap/weights.parquet" in hub.commits(MOD_REPO)[-1]["paths"]
    assert modcard.DEFAULT_LOGO.endswith("/dna-seq/just-dna-lite/main/webui/assets/images/just_dna_seq.jpg")


def test_dataset_card(hub, tmp_path):
    """On Parquet made by the real converter (scripts/vcf2parquet.py from synthetic
    VCFs), the card is valid front matter with configs, states the release and file
    date the converter recorded, files and rows, and its Polars and DuckDB examples run
    (against the local copy of the same file)."""
    hub.add_repo(ENS_REPO)
    cache = tmp_path / "cache"
    sdir = species_dir(cache)
    write_manifest(sdir, [f"{SPECIES}-chr21.vcf.gz", f"{SPECIES}-chr22.vcf.gz"])
    for chrom, n in (("21", 3), ("22", 2)):
        vcf = synthvcf.write_vcf(tmp_path / f"{SPECIES}-chr{chrom}.vcf.gz", n, seed=int(chrom),
                                 chrom=chrom, release=113, file_date="20240901")
        vcf2parquet.convert(vcf, sdir / f"{SPECIES}-chr{chrom}.parquet", threads=1)
    assert run(make_env(hub, cache, tmp_path), "ensembl").returncode == 0
    card = hub.files(ENS_REPO)["README.md"].decode()
    front = yaml.safe_load(card.split("---\n")[1])
    assert front["license"] and front["pretty_name"] and "genomics" in front["tags"]
    (config_,) = front["configs"]
    assert config_["data_files"][0]["path"] == [f"data/{SPECIES}-chr21.parquet", f"data/{SPECIES}-chr22.parquet"]
    assert "| Ensembl release | 113 |" in card and "| VCF file date | 2024-09-01 |" in card
    assert "Ensembl release 113" in hub.commits(ENS_REPO)[-1]["summary"]
    assert "| Files | 2 |" in card and "| Rows | 5 |" in card
    assert "| `alts` | List(String) |" in card and "| `dbSNP_156` | Boolean |" in card

    ids = pq.read_table(sdir / f"{SPECIES}-chr21.parquet", columns=["id"])["id"].to_pylist()
    blocks = re.findall(r"```python\n(.*?)```", card, re.S)
    assert len(blocks) == 2
    local = str(sdir) + "/"
    for code in blocks:
        assert all(col in code for col in ("chrom", "start", "ref", "alt"))
        code = code.replace(f"hf://datasets/{ENS_REPO}/data/", local)
        out = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert ids[0] in out.stdout and ids[1] not in out.stdout  # the one record looked up


def test_just_upload_takes_make_style_variables(hub, cache, tmp_path):
    """`just upload SPECIES=mus_musculus --dry-run`, as the README writes it: the mouse
    set goes to the mouse repo, <hf_ensembl_repo>_mus_musculus."""
    hub.add_repo(ENS_REPO)
    hub.add_repo(f"{ENS_REPO}_mus_musculus")
    write_manifest(cache / "ensembl" / "mus_musculus", ["mus_musculus-chr1.vcf.gz"])
    write_variants(cache / "ensembl" / "mus_musculus" / "mus_musculus-chr1.parquet", "1", ["rs1"])
    env = make_env(hub, cache, tmp_path)
    result = subprocess.run([str(JUST), "--justfile", str(ROOT / "justfile"), "upload",
                             "SPECIES=mus_musculus", f"HF_ENSEMBL_REPO={ENS_REPO}", "--dry-run"],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "upload  data/mus_musculus-chr1.parquet" in result.stdout
    assert f"Plan for datasets/{ENS_REPO}_mus_musculus at " in result.stdout
    assert SPECIES not in result.stdout.replace(ENS_REPO, "")
    assert "dry run" in result.stdout and writes(hub.requests) == []
    # the variables after the options work too (just used to say "unexpected extra argument")
    after = subprocess.run([str(JUST), "--justfile", str(ROOT / "justfile"), "upload", "--dry-run",
                            "SPECIES=mus_musculus", f"HF_ENSEMBL_REPO={ENS_REPO}"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert after.returncode == 0, after.stderr
    assert f"Plan for datasets/{ENS_REPO}_mus_musculus at " in after.stdout


# --- one species per dataset repo --------------------------------------------------------

MOUSE_REPO = f"{ENS_REPO}_mus_musculus"


def mouse_cache(cache: Path) -> Path:
    write_manifest(cache / "ensembl" / "mus_musculus", ["mus_musculus.vcf.gz"])
    write_variants(cache / "ensembl" / "mus_musculus" / "mus_musculus.parquet", "1", ["rs9"])
    return cache


def test_each_species_goes_to_its_own_repo(hub, cache, tmp_path):
    """homo_sapiens to hf_ensembl_repo, mus_musculus to <hf_ensembl_repo>_mus_musculus:
    neither repo ever holds the other species' files."""
    hub.add_repo(ENS_REPO)
    hub.add_repo(MOUSE_REPO)
    mouse_cache(cache)
    env = make_env(hub, cache, tmp_path)
    human = run(env, "ensembl")
    assert human.returncode == 0, human.stderr
    mouse = run(env, "ensembl", "--species", "mus_musculus")
    assert mouse.returncode == 0, mouse.stderr
    assert {p for p in hub.files(ENS_REPO) if p.startswith("data/")} == {
        f"data/{SPECIES}-chr21.parquet", f"data/{SPECIES}-chr22.parquet"}
    assert {p for p in hub.files(MOUSE_REPO) if p.startswith("data/")} == {"data/mus_musculus.parquet"}
    assert "mus_musculus" in hub.files(MOUSE_REPO)["README.md"].decode()
    # A second run of each passes the guard (its own species only) and changes nothing.
    assert run(env, "ensembl").returncode == 0 and len(hub.commits(ENS_REPO)) == 2
    again = run(env, "ensembl", "--species", "mus_musculus")
    assert again.returncode == 0 and len(hub.commits(MOUSE_REPO)) == 2


def test_another_species_in_the_human_default_repo_is_refused_before_any_request(hub, cache, tmp_path):
    hub.add_repo(ENS_REPO)
    mouse_cache(cache)
    result = run(make_env(hub, cache, tmp_path), "ensembl", "--species", "mus_musculus",
                 "--repo", ENS_REPO)
    assert result.returncode == 1
    assert f"refusing to upload mus_musculus to datasets/{ENS_REPO}" in result.stderr
    assert f"{MOUSE_REPO} by default" in result.stderr and "Nothing was sent" in result.stderr
    assert hub.requests == [] and len(hub.commits(ENS_REPO)) == 1


@pytest.mark.parametrize("dry_run", [False, True])
def test_repo_holding_another_species_files_is_refused(hub, cache, tmp_path, dry_run):
    """The case of the report: a mouse file in the human repo. The upload stops before
    hashing or sending anything, naming the file and the species (a dry run too)."""
    hub.put(ENS_REPO, {"data/mus_musculus.parquet": b"PAR1 mouse PAR1"})
    result = run(make_env(hub, cache, tmp_path), "ensembl", *(["--dry-run"] if dry_run else []))
    assert result.returncode == 1
    assert (f"refusing to upload {SPECIES} to datasets/{ENS_REPO}: it holds mus_musculus data "
            "(data/mus_musculus.parquet)") in result.stderr
    assert writes(hub.requests) == [] and len(hub.commits(ENS_REPO)) == 2
    assert "hashing" not in result.stderr and "Plan for" not in result.stdout
    # Once the stray file is gone, the same command publishes.
    hub.repos[ENS_REPO].files.pop("data/mus_musculus.parquet")
    assert run(make_env(hub, cache, tmp_path), "ensembl").returncode == 0


def test_repo_whose_card_names_another_species_is_refused(hub, cache, tmp_path):
    """A card (as hubcard writes it) naming mus_musculus in a repo with no data files."""
    mouse = mouse_cache(tmp_path / "mouse") / "ensembl" / "mus_musculus" / "mus_musculus.parquet"
    card = hubcard.ensembl_card(ENS_REPO, "mus_musculus", [mouse], [hubcard.parquet_facts(mouse)])
    hub.put(ENS_REPO, {"README.md": card.encode()})
    result = run(make_env(hub, cache, tmp_path), "ensembl")
    assert result.returncode == 1
    assert "its dataset card (README.md) names mus_musculus" in result.stderr
    assert writes(hub.requests) == [] and hub.count("GET", r"/resolve/[^/]+/README\.md$") == 1
    # The card of the species itself passes: a second human upload over its own card.
    hub.repos[ENS_REPO].files.pop("README.md")
    assert run(make_env(hub, cache, tmp_path), "ensembl").returncode == 0
    assert run(make_env(hub, cache, tmp_path), "ensembl").returncode == 0


def test_card_species():
    card = ("---\ntags:\n- genomics\n- canis_lupus_familiaris\nconfigs:\n- config_name: default\n"
            "  data_files:\n  - split: train\n    path: data/danio_rerio-*.parquet\n---\n"
            "# Ensembl variations: gallus_gallus\n")
    assert hubclient.card_species(card) == {"canis_lupus_familiaris", "danio_rerio", "gallus_gallus"}
    assert hubclient.card_species("no front matter, data_files and pretty_name only") == set()
    assert hubclient.file_species("data/homo_sapiens-chrMT.parquet") == "homo_sapiens"
    assert hubclient.ensembl_repo({"hf_ensembl_repo": "o/ev"}, "homo_sapiens") == "o/ev"
    assert hubclient.ensembl_repo({"hf_ensembl_repo": "o/ev"}, "mus_musculus") == "o/ev_mus_musculus"


# --- the plan, unit by unit -------------------------------------------------------------

def remote_file(path: str, data: bytes, lfs: bool) -> RepoFile:
    import hashlib

    entry = {"type": "file", "path": path, "size": len(data),
             "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
    if lfs:
        entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
    return RepoFile(**entry)


def test_decide_compares_content_not_size():
    item = hubclient.Item("data/x.parquet", data=b"abcd", size=4)
    hubclient.fill_digests([item], None)
    hubplan.decide(item, None)
    assert (item.action, item.reason) == ("upload", "new (not on the Hub)")
    hubplan.decide(item, remote_file("data/x.parquet", b"abcd", lfs=True))
    assert item.action == "skip"
    hubplan.decide(item, remote_file("data/x.parquet", b"abce", lfs=True))  # same size
    assert item.action == "upload" and "SHA-256 differs" in item.reason
    hubplan.decide(item, remote_file("data/x.parquet", b"abcd", lfs=False))  # a plain git blob
    assert item.action == "skip"
    hubplan.decide(item, remote_file("data/x.parquet", b"abcX", lfs=False))
    assert item.action == "upload"


def test_commit_message_counts_and_release():
    items = [hubclient.Item("data/a.parquet", action="upload", reason="new (not on the Hub)"),
             hubclient.Item("data/b.parquet", action="upload", reason="changed (SHA-256 differs)"),
             hubclient.Item("data/c.parquet", action="skip", reason="unchanged (same SHA-256)"),
             hubclient.Item("README.md", action="upload", reason="changed (content differs)")]
    summary, description = hubplan.commit_message("Ensembl release 115", "Parquet files", items)
    assert summary == "Ensembl release 115: add 1 and update 1 of 3 Parquet files, README.md"
    assert "data/c.parquet: unchanged" in description


def test_ensembl_files_in_chromosome_order(tmp_path):
    cfg = {"species": SPECIES, "cache_dir": str(tmp_path)}
    sdir = tmp_path / "ensembl" / SPECIES
    write_manifest(sdir, [f"{SPECIES}-chr{c}.vcf.gz" for c in ("1", "2", "10", "MT")])
    for name in (f"{SPECIES}-chr2.parquet", f"{SPECIES}-chr10.parquet", f"{SPECIES}-chr1.parquet",
                 f"{SPECIES}-chrMT.parquet", f".{SPECIES}-chr3.parquet.77.tmp",
                 f"{SPECIES}-chr3.parquet.part", "mus_musculus-chr1.parquet", "steps.jsonl"):
        (sdir / name).parent.mkdir(parents=True, exist_ok=True)
        (sdir / name).write_bytes(b"x")
    files, aside, left_out = upload.ensembl_files(cfg)
    assert [p.name for p in files] == [f"{SPECIES}-chr1.parquet", f"{SPECIES}-chr2.parquet",
                                       f"{SPECIES}-chr10.parquet", f"{SPECIES}-chrMT.parquet"]
    assert [(i.path_in_repo, i.action) for i in aside] == [("mus_musculus-chr1.parquet", "ignore")]
    assert left_out == []


def test_card_data_files_name_exactly_the_published_files():
    assert hubcard.data_paths("danio_rerio", [Path("danio_rerio.parquet")]) == "data/danio_rerio.parquet"
    assert hubcard.data_paths(SPECIES, [Path(f"{SPECIES}-chr10.parquet"), Path(f"{SPECIES}-chr1.parquet"),
                                        Path(f"{SPECIES}-chr2.parquet")]) == [
        f"data/{SPECIES}-chr1.parquet", f"data/{SPECIES}-chr2.parquet", f"data/{SPECIES}-chr10.parquet"]

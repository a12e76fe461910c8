"""The local fan-out: from the mini mirror, `make targets-json`, then one leg per file,
each a separate process with its own fresh cache (same working copy), building its
Parquet and hits file and staging the Parquet on the stand-in Hub's staging branch;
then the gather with no Parquet on its disk (every module from the legs' hits). Compared
with a single machine's `make parquet modules` + `just upload` against a second stand-in Hub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mirror
import modfixtures
import moduledef
from helpers import ROOT, make, output
from hubstub import FakeHub

PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
REPO = "test-org/ensembl_variations"
TOKEN = "hf_test_write_token_0123456789"
TABLES = sorted(moduledef.OUTPUTS)
MODULES = sorted(n for n in moduledef.all_modules() if n in modfixtures.BUILDERS)  # those the mirror serves


def new_hub() -> FakeHub:
    hub = FakeHub().start()
    hub.add_token(TOKEN, "write", orgs={"test-org": "write"})
    hub.add_repo(REPO)
    return hub


@pytest.fixture
def hubs():
    single, fan = new_hub(), new_hub()
    yield single, fan
    for hub in (single, fan):
        hub.stop()
        assert hub.unknown == [], f"the client called endpoints the stand-in lacks: {hub.unknown}"


def hub_env(hub: FakeHub, cache: Path, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_") and not k.lower().endswith("_proxy")}
    env.update(CACHE_DIR=str(cache), HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1",
               HF_HOME=str(tmp_path / "hf-home"), HF_TOKEN=TOKEN, HF_ENSEMBL_REPO=REPO,
               RETRIES="0", RETRY_BACKOFF="0.01", NO_PROXY="127.0.0.1,localhost")
    return env


def upload(env: dict, *args: str) -> subprocess.CompletedProcess:
    """upload.py (ensembl, modules) or publish_ci.py (report, stage, check, gather)."""
    script = "publish_ci.py" if args[0] in ("report", "stage", "check", "gather") else "upload.py"
    return subprocess.run([PY, str(ROOT / "scripts" / script), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def staging(cache: Path) -> str:
    """The staging branch of a release: staging/<ensembl_release of the Parquet footers>."""
    import pyarrow.parquet as pq

    releases = {pq.read_metadata(p).metadata[b"ensembl_release"].decode()
                for p in cache.glob("ensembl/homo_sapiens/*.parquet")}
    assert len(releases) == 1
    return f"staging/{releases.pop()}"


def run_leg(entry: dict, cache: Path, artifacts: Path, server, hub: FakeHub, tmp_path: Path,
            lm_url: dict) -> None:
    """One CI leg: its Parquet and hits targets, the report, the VCF deleted, then staged."""
    r = make(str(cache / entry["parquet"]), str(cache / entry["hits"]), cache=cache, server=server, **lm_url)
    assert r.returncode == 0, output(r)
    (cache / entry["vcf"]).unlink()
    (artifacts / "hits").mkdir(parents=True, exist_ok=True)
    shutil.copy2(cache / entry["hits"], artifacts / "hits")
    env = hub_env(hub, cache, tmp_path)
    rep = upload(env, "report", str(cache / entry["parquet"]), str(artifacts / "reports" / f"{entry['stem']}.json"))
    assert rep.returncode == 0, rep.stderr
    st = upload(env, "stage", str(cache / entry["parquet"]))
    assert st.returncode == 0, st.stderr


def gather(hub: FakeHub, artifacts: Path, plan: Path, cache: Path, tmp_path: Path, lm_url: dict):
    lm = make("modules", f"MODULE_HITS={artifacts / 'hits'}", cache=cache, **lm_url)
    assert lm.returncode == 0, output(lm)
    return upload(hub_env(hub, cache, tmp_path), "gather", str(artifacts / "reports"), "--plan", str(plan))


def test_fan_out_publishes_like_one_machine(server, hubs, tmp_path):
    single_hub, hub = hubs
    lm_url = mirror.module_env(server.url)  # every module's source on the mirror
    # one machine: make parquet modules, just upload
    one = tmp_path / "one"
    r = make("parquet", "modules", cache=one, server=server, **lm_url)
    assert r.returncode == 0, output(r)
    up = upload(hub_env(single_hub, one, tmp_path), "ensembl")
    assert up.returncode == 0, up.stderr

    # plan
    planner = tmp_path / "plan-cache"
    r = make("-s", "targets-json", cache=planner, server=server)
    assert r.returncode == 0, output(r)
    plan = tmp_path / "targets.json"
    plan.write_text(r.stdout)
    entries = json.loads(r.stdout)["files"]
    assert len(entries) == 4

    # legs, each in its own fresh cache (a separate runner's disk)
    artifacts = tmp_path / "artifacts"
    for i, entry in enumerate(entries):
        run_leg(entry, tmp_path / f"leg{i}", artifacts, server, hub, tmp_path, lm_url)
    assert hub.branch_names(REPO) == ["main", staging(one)]
    before = hub.commits(REPO)
    assert len(before) == 1 and set(hub.files(REPO)) == {".gitattributes"}  # main untouched so far

    # gather: no Parquet of the species on its disk
    g = tmp_path / "gather"
    mark = len(hub.requests)
    result = gather(hub, artifacts, plan, g, tmp_path, lm_url)
    assert result.returncode == 0, result.stderr
    assert not list(g.glob("ensembl/**/*.parquet"))  # (only the step log is there)
    after = hub.commits(REPO)
    assert len(after) == len(before) + 1  # one commit on main
    assert hub.files(REPO) == single_hub.files(REPO)  # byte-identical to one machine's upload (card too)
    assert hub.branch_names(REPO) == ["main"]  # staging branch deleted
    sent = [p for _, p in hub.requests[mark:]]
    assert not any(p.startswith("/lfs-upload") or "lfs/objects" in p for p in sent)  # server-side copies
    assert sum("/commit/main" in p for p in sent) == 1
    for module in MODULES:
        for name in TABLES:
            assert (g / "modules" / module / name).read_bytes() == (one / "modules" / module / name).read_bytes()

    # a second full run: nothing changes, no commit
    shutil.rmtree(artifacts)
    for i, entry in enumerate(entries):
        run_leg(entry, tmp_path / f"again{i}", artifacts, server, hub, tmp_path, lm_url)
    again = gather(hub, artifacts, plan, tmp_path / "gather2", tmp_path, lm_url)
    assert again.returncode == 0, again.stderr
    assert "no commit" in again.stderr
    assert hub.commits(REPO) == after and hub.branch_names(REPO) == ["main"]


def test_missing_or_wrong_leg_fails_the_gather_and_leaves_main(server, hubs, tmp_path):
    _, hub = hubs
    lm_url = mirror.module_env(server.url)
    r = make("-s", "targets-json", cache=tmp_path / "plan-cache", server=server)
    plan = tmp_path / "targets.json"
    plan.write_text(r.stdout)
    entries = json.loads(r.stdout)["files"]
    artifacts = tmp_path / "artifacts"
    for i, entry in enumerate(entries[:3]):  # the last leg failed: no report, nothing staged
        run_leg(entry, tmp_path / f"leg{i}", artifacts, server, hub, tmp_path, lm_url)
    main = hub.commits(REPO)
    env = hub_env(hub, tmp_path / "gather", tmp_path)
    check = upload(env, "check", str(artifacts / "reports"), "--plan", str(plan))  # the gather's first step
    assert check.returncode == 1 and f"{entries[3]['stem']}.parquet" in check.stderr
    result = upload(env, "gather", str(artifacts / "reports"), "--plan", str(plan))
    assert result.returncode == 1
    assert f"{entries[3]['stem']}.parquet" in result.stderr and "no leg report" in result.stderr
    assert hub.commits(REPO) == main and set(hub.files(REPO)) == {".gitattributes"}

    # a report whose file never reached the staging branch (its stage step failed)
    cache = tmp_path / "leg3"
    r = make(str(cache / entries[3]["parquet"]), cache=cache, server=server)
    assert r.returncode == 0, output(r)
    rep = upload(hub_env(hub, cache, tmp_path), "report", str(cache / entries[3]["parquet"]),
                 str(artifacts / "reports" / "late.json"))
    assert rep.returncode == 0, rep.stderr
    result = upload(env, "gather", str(artifacts / "reports"), "--plan", str(plan))
    assert result.returncode == 1
    assert f"data/{entries[3]['stem']}.parquet is missing" in result.stderr
    assert hub.commits(REPO) == main and staging(cache) in hub.branch_names(REPO)


def test_gather_refuses_reports_of_several_releases(hubs, tmp_path):
    _, hub = hubs
    names = ["homo_sapiens-chr1.vcf.gz", "homo_sapiens-chr2.vcf.gz"]
    plan = tmp_path / "targets.json"
    plan.write_text(json.dumps({"species": "homo_sapiens", "files": [{"name": n} for n in names]}))
    reports = tmp_path / "reports"
    reports.mkdir()
    for n, release in zip(names, ("114", "115")):
        stem = n.removesuffix(".vcf.gz")
        (reports / f"{stem}.json").write_text(json.dumps(
            {"name": f"{stem}.parquet", "sha256": "0" * 64, "size": 1, "rows": 1, "schema": [],
             "release": release, "date": "unknown"}))
    mark = len(hub.requests)
    r = upload(hub_env(hub, tmp_path / "cache", tmp_path), "gather", str(reports), "--plan", str(plan))
    assert r.returncode == 1 and "several Ensembl releases (mixed (114, 115))" in r.stderr
    assert hub.requests[mark:] == [] and hub.commits(REPO) == hub.commits(REPO)[:1]


def small_parquets(tmp_path: Path) -> list[Path]:
    from test_upload import write_variants

    sdir = tmp_path / "cache" / "ensembl" / "homo_sapiens"
    files = [sdir / "homo_sapiens-chr21.parquet", sdir / "homo_sapiens-chr22.parquet"]
    write_variants(files[0], "21", ["rs100", "rs101"])
    write_variants(files[1], "22", ["rs200"])
    return files


def test_stage_and_gather_retry_and_a_failed_final_commit_changes_nothing(hubs, tmp_path):
    _, hub = hubs
    files = small_parquets(tmp_path)
    env = dict(hub_env(hub, tmp_path / "cache", tmp_path), RETRIES="2")
    reports = tmp_path / "reports"
    plan = tmp_path / "targets.json"
    plan.write_text(json.dumps({"species": "homo_sapiens",
                                "files": [{"name": f.name.replace(".parquet", ".vcf.gz")} for f in files]}))
    hub.fail("POST", r"/commit/staging", 503, times=1)  # legs commit at about the same time: retried
    hub.fail("POST", r"/branch/staging", 503, times=1)
    for f in files:
        assert upload(env, "report", str(f), str(reports / f"{f.stem}.json")).returncode == 0
        st = upload(env, "stage", str(f))
        assert st.returncode == 0, st.stderr
    assert all(fault.times == 0 for fault in hub.faults)  # both faults were met, and retried
    assert set(hub.files(REPO, "staging/115")) == {".gitattributes", *(f"data/{f.name}" for f in files)}
    main = hub.commits(REPO)
    hub.fail("POST", r"/commit/main$", 500, times=3)  # the final commit keeps failing
    r = upload(env, "gather", str(reports), "--plan", str(plan))
    assert r.returncode == 1 and "main is as it was" in r.stderr, r.stderr
    assert hub.count("POST", r"/commit/main$") == 3
    assert hub.commits(REPO) == main and "staging/115" in hub.branch_names(REPO)  # kept for a re-run
    r = upload(env, "gather", str(reports), "--plan", str(plan))  # the re-run publishes
    assert r.returncode == 0, r.stderr
    assert len(hub.commits(REPO)) == len(main) + 1 and hub.branch_names(REPO) == ["main"]
    assert {p: d for p, d in hub.files(REPO).items() if p.startswith("data/")} == \
        {f"data/{f.name}": f.read_bytes() for f in files}


def test_gather_refuses_a_staged_file_that_differs_from_its_report(hubs, tmp_path):
    _, hub = hubs
    files = small_parquets(tmp_path)
    env = hub_env(hub, tmp_path / "cache", tmp_path)
    reports = tmp_path / "reports"
    plan = tmp_path / "targets.json"
    plan.write_text(json.dumps({"files": [{"name": f.name.replace(".parquet", ".vcf.gz")} for f in files]}))
    for f in files:
        assert upload(env, "report", str(f), str(reports / f"{f.stem}.json")).returncode == 0
        assert upload(env, "stage", str(f)).returncode == 0
    from test_upload import write_variants
    write_variants(files[1], "22", ["rs200", "rs201"])  # a second attempt of this leg staged another file
    assert upload(env, "stage", str(files[1])).returncode == 0
    main = hub.commits(REPO)
    r = upload(env, "gather", str(reports), "--plan", str(plan))
    assert r.returncode == 1
    assert f"data/{files[1].name} differs from its leg's report" in r.stderr and files[0].name not in r.stderr
    assert hub.commits(REPO) == main


def test_legs_and_gather_keep_one_species_per_repo(hubs, tmp_path):
    """A mouse fan-out stages and publishes into the mouse repo (<hf_ensembl_repo>_mus_musculus);
    aimed at the human repo, or at a repo holding another species, it is refused before
    anything is staged or committed."""
    from test_upload import write_variants

    _, hub = hubs
    mouse_repo = f"{REPO}_mus_musculus"
    hub.add_repo(mouse_repo)
    parquet = tmp_path / "cache" / "ensembl" / "mus_musculus" / "mus_musculus.parquet"
    write_variants(parquet, "1", ["rs9"])
    env = dict(hub_env(hub, tmp_path / "cache", tmp_path), SPECIES="mus_musculus")
    reports = tmp_path / "reports"
    plan = tmp_path / "targets.json"
    plan.write_text(json.dumps({"species": "mus_musculus", "files": [{"name": "mus_musculus.vcf.gz"}]}))
    assert upload(env, "report", str(parquet), str(reports / "mus_musculus.json")).returncode == 0

    human_before = hub.commits(REPO)
    for args in (("stage", str(parquet), "--repo", REPO), ("gather", str(reports), "--plan", str(plan), "--repo", REPO)):
        r = upload(env, *args)
        assert r.returncode == 1 and "refusing to upload mus_musculus to datasets/" + REPO in r.stderr, r.stderr
    assert hub.commits(REPO) == human_before and hub.branch_names(REPO) == ["main"]

    # the mouse repo already holds a human file: refused before staging
    hub.put(mouse_repo, {"data/homo_sapiens-chr1.parquet": b"x"})
    r = upload(env, "stage", str(parquet))
    assert r.returncode == 1 and "it holds homo_sapiens data" in r.stderr, r.stderr
    assert hub.branch_names(mouse_repo) == ["main"]
    hub.repos.pop(mouse_repo)
    hub.add_repo(mouse_repo)

    st = upload(env, "stage", str(parquet))
    assert st.returncode == 0, st.stderr
    g = upload(env, "gather", str(reports), "--plan", str(plan))
    assert g.returncode == 0, g.stderr
    assert {p for p in hub.files(mouse_repo) if p.startswith("data/")} == {"data/mus_musculus.parquet"}
    assert hub.commits(REPO) == human_before

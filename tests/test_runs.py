"""The runs view from the command line (scripts/runs.py, `./just runs`): real `make` runs
against the mini mirror, grouped into runs by the id the Makefile gives them."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import ROOT, make, output

PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def runs(cache, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PY, str(ROOT / "scripts" / "runs.py"), *args], env={"CACHE_DIR": str(cache),
                          "PA_DOTENV": "", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60)


def test_one_make_is_one_run_even_when_make_restarts_after_discovery(server, tmp_path):
    cache = tmp_path / "cache"
    first = make("download", cache=cache, server=server, SPECIES="mus_musculus")
    assert first.returncode == 0, output(first)
    steps = [json.loads(line) for line in (cache / "ensembl" / "mus_musculus" / "steps.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps] == ["discover", "fetch"]
    # discovery remade the Make fragment, so make restarted itself: still one run id
    assert len({s["run"] for s in steps}) == 1 and all(s["run_label"] == "make download" for s in steps)
    second = make("verify", cache=cache, server=server, SPECIES="mus_musculus")
    assert second.returncode == 0, output(second)

    listed = runs(cache, "--json")
    assert listed.returncode == 0, listed.stderr
    got = json.loads(listed.stdout)
    assert [(r["label"], r["result"], r["steps"]) for r in got] == [("make verify", "ok", 1), ("make download", "ok", 2)]
    assert got[1]["id"] == steps[0]["run"] and got[1]["where"] == ["mus_musculus"] and got[1]["seconds"] >= 0
    text = runs(cache).stdout
    assert "make download" in text and steps[0]["run"] in text
    log = runs(cache, "--log", steps[0]["run"])
    assert log.returncode == 0 and "discover" in log.stdout and "fetch" in log.stdout and "mus_musculus.vcf.gz" in log.stdout
    missing = runs(cache, "--log", "no-such-run")
    assert missing.returncode == 1 and "no run no-such-run" in missing.stderr
    bad = runs(cache, "--log", "../etc")
    assert bad.returncode == 1 and "is not a run id" in bad.stderr

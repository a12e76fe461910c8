"""The CI workflow (.github/workflows/prepare.yml) run the way a GitHub-hosted runner runs
it: each `run:` block with `bash -e`, under a PATH holding only what the Ubuntu runner
image has (no `just`, no `uv`) plus what the workflow's own steps add to $GITHUB_PATH, in
a fresh copy of the working tree at one workspace path per job. The `uses:` steps are done
here as their actions do them (checkout: a copy of the tree; cache: a hit on the built
.venv; upload/download-artifact: directories kept between jobs). Against the mini mirror
and the stand-in Hub, with publishing on: every command resolves and every job succeeds;
a gather run again after its success says main already holds the files and succeeds; the
module upload, failing after the gather published, succeeds when its job is run again on
its own ("Re-run failed jobs")."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import mirror
from helpers import ROOT
from hubstub import FakeHub

WORKFLOW = ROOT / ".github" / "workflows" / "prepare.yml"
ENS_REPO = "test-org/ensembl_variations"
MOD_REPO = "test-org/annotators"
WF_MODULES = ("longevitymap", "lipidmetabolism")
TOKEN = "hf_test_write_token_0123456789"
# What GitHub's ubuntu-24.04 image has that these jobs could call (a subset of its tool list);
# each is linked from this machine. `just` and `uv` are not on the image.
RUNNER_TOOLS = """bash sh env make python3 pip3 git jq curl tar gzip zstd sum node npm
cat cp mv rm ln ls mkdir rmdir touch chmod echo printf test [ true false sed grep awk find
head tail sort uniq tr cut wc tee xargs dirname basename readlink realpath date sleep id
uname mktemp stat diff cmp nproc getconf which expr""".split()


# --- a small runner ---------------------------------------------------------------------------

class Runner:
    def __init__(self, tmp: Path, hub: FakeHub, mirror_url: str):
        self.tmp, self.hub = tmp, hub
        self.ws = tmp / "work" / "prepare-annotations"  # github.workspace: the same path for every job
        self.artifacts = tmp / "artifacts"
        self.bin = tmp / "runner-bin"
        self.bin.mkdir()
        for tool in RUNNER_TOOLS:
            found = shutil.which(tool)
            if tool == "python3":
                found = os.path.realpath(subprocess.check_output(
                    [found, "-c", "import sys; print(sys.executable)"], text=True).strip())
            assert found, f"{tool}: not on this machine"
            (self.bin / tool).symlink_to(found)
        self.inputs = {"species": "homo_sapiens", "base_url": f"{mirror_url}/", "publish": True,
                       "max_parallel": 25}
        self.wf = yaml.safe_load(WORKFLOW.read_text())
        self.outputs: dict[str, dict] = {}  # job -> outputs
        self.results: dict[str, str] = {}   # job -> success / failure / skipped
        self.log: list[str] = []
        # what a repository's settings (secrets, variables) would give the run
        self.settings = {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", "HF_HOME": str(tmp / "hf-home"),
                         "HF_ENSEMBL_REPO": ENS_REPO, "HF_MODULES_REPO": MOD_REPO, "RETRIES": "1",
                         "RETRY_BACKOFF": "0.01", "NO_PROXY": "127.0.0.1,localhost", "PA_DOTENV": "",
                         "PATTERN": r"homo_sapiens-chr(21|MT)\.vcf\.gz",
                         **mirror.module_env(mirror_url),  # the modules' sources on the mirror
                         # two modules whose curated rsids lie on chr21 (a module without a row fails its checks)
                         "MODULES": ",".join(WF_MODULES)}

    # expressions: the few forms this workflow uses
    def value(self, ref: str, ctx: dict):
        node = ctx
        for part in ref.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    def evaluate(self, expr: str, ctx: dict):
        def ref(m: re.Match) -> str:
            return f"_v({m.group(0)!r})"

        py = re.sub(r"\b(?:inputs|github|needs|steps|matrix|env|secrets|runner)(?:\.[A-Za-z0-9_-]+)+", ref, expr)
        py = py.replace("&&", " and ").replace("||", " or ").replace("!=", " != ")
        py = re.sub(r"(?<![=!<>])!(?!=)", " not ", py)
        status = ctx["_status"]
        names = {"_v": lambda r: self.value(r, ctx), "always": lambda: True,
                 "success": lambda: status == "success", "failure": lambda: status == "failure",
                 "cancelled": lambda: False, "fromJSON": json.loads, "hashFiles": lambda *a: "h"}
        return eval(py, {"__builtins__": {}}, names)  # noqa: S307 - the test's own workflow

    def expand(self, text, ctx: dict):
        if not isinstance(text, str):
            return text
        whole = re.fullmatch(r"\$\{\{(.*?)\}\}", text.strip())
        if whole:
            return self.evaluate(whole.group(1), ctx)

        def one(m: re.Match) -> str:
            v = self.evaluate(m.group(1), ctx)
            return "" if v is None else ("true" if v is True else "false" if v is False else str(v))

        return re.sub(r"\$\{\{(.*?)\}\}", one, text)

    def condition(self, cond, ctx: dict) -> bool:
        if cond is None:
            return ctx["_status"] == "success"
        text = cond.strip()
        text = text[3:-2] if text.startswith("${{") else text
        if not re.search(r"\b(always|success|failure|cancelled)\(", text):
            text = f"success() && ({text})"
        return bool(self.evaluate(text, ctx))

    # the jobs
    def fresh_workspace(self) -> None:
        shutil.rmtree(self.ws, ignore_errors=True)
        self.ws.mkdir(parents=True)
        listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                                capture_output=True, check=True).stdout.decode().split("\0")
        for rel in filter(None, listed):
            if (ROOT / rel).is_file():
                (self.ws / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, self.ws / rel)

    def run_job(self, name: str, matrix: dict | None = None) -> str:
        job = self.wf["jobs"][name]
        base = {"github": {"workspace": str(self.ws), "event_name": "workflow_dispatch"},
                "inputs": self.inputs, "secrets": {"HF_TOKEN": TOKEN}, "runner": {"os": "Linux", "arch": "X64"},
                "needs": {n: {"result": self.results.get(n), "outputs": self.outputs.get(n, {})}
                          for n in self.wf["jobs"]}, "matrix": matrix or {}, "steps": {}, "_status": "success"}
        self.fresh_workspace()
        env = {}
        for scope in (self.wf.get("env") or {}, job.get("env") or {}):
            for k, v in scope.items():
                env[k] = self.expand(v, {**base, "env": env})
        base["env"] = env
        added_path: list[str] = []
        status = "success"
        for step in job["steps"]:
            ctx = {**base, "_status": status}
            if not self.condition(step.get("if"), ctx):
                continue
            step_env = {**env, **{k: self.expand(v, ctx) for k, v in (step.get("env") or {}).items()}}
            ok, outputs = self.step(step, step_env, added_path, ctx)
            if step.get("id"):
                base["steps"][step["id"]] = {"outputs": outputs}
            if not ok:
                status = "failure"
        if status == "success":
            self.outputs[name] = {k: self.expand(v, {**base, "_status": status})
                                  for k, v in (job.get("outputs") or {}).items()}
        return status

    def step(self, step: dict, env: dict, added_path: list[str], ctx: dict) -> tuple[bool, dict]:
        uses = step.get("uses")
        with_ = {k: self.expand(v, ctx) for k, v in (step.get("with") or {}).items()}
        if uses:
            action = uses.split("@")[0]
            if action == "actions/checkout":
                return True, {}
            if action == "actions/cache":  # a hit: the environment this test runs in (.venv, .tools)
                for rel in with_["path"].split():
                    (self.ws / rel).symlink_to(ROOT / rel)
                return True, {"cache-hit": "true"}
            if action == "actions/upload-artifact":
                src = Path(with_["path"].strip())
                src = src if src.is_absolute() else self.ws / src
                dest = self.artifacts / with_["name"]
                shutil.rmtree(dest, ignore_errors=True)
                if src.is_dir():
                    shutil.copytree(src, dest)
                else:
                    dest.mkdir(parents=True)
                    shutil.copy2(src, dest)
                return True, {}
            if action == "actions/download-artifact":
                dest = Path(with_["path"])
                dest = dest if dest.is_absolute() else self.ws / dest
                names = [with_["name"]] if "name" in with_ else \
                    sorted(p.name for p in self.artifacts.glob(with_["pattern"]))
                for n in names:
                    shutil.copytree(self.artifacts / n, dest if with_.get("merge-multiple") or "name" in with_
                                    else dest / n, dirs_exist_ok=True)
                return True, {}
            raise AssertionError(f"no stand-in for {uses}")
        files = {k: self.tmp / f"github-{k}" for k in ("output", "path", "summary")}
        for f in files.values():
            f.write_text("")
        full = {"HOME": str(self.tmp / "home"), "LANG": "C.UTF-8", "CI": "true",
                "GITHUB_WORKSPACE": str(self.ws), "GITHUB_OUTPUT": str(files["output"]),
                "GITHUB_PATH": str(files["path"]), "GITHUB_STEP_SUMMARY": str(files["summary"]),
                **self.settings, **env,
                "PATH": os.pathsep.join([*reversed(added_path), str(self.bin)])}
        script = self.tmp / "step.sh"
        script.write_text(step["run"])
        r = subprocess.run([str(self.bin / "bash"), "-e", str(script)], cwd=self.ws, env=full,
                           capture_output=True, text=True, timeout=600)
        self.log.append(f"--- {step.get('name') or step['run'].splitlines()[0]} (rc {r.returncode})\n"
                        f"{r.stdout}{r.stderr}")
        added_path += [line for line in files["path"].read_text().splitlines() if line]
        outputs = dict(line.split("=", 1) for line in files["output"].read_text().splitlines() if "=" in line)
        return r.returncode == 0, outputs

    def run(self, name: str) -> str:
        job = self.wf["jobs"][name]
        needs = job.get("needs") or []
        needs = [needs] if isinstance(needs, str) else needs
        ctx = {"github": {"event_name": "workflow_dispatch"}, "inputs": self.inputs,
               "needs": {n: {"result": self.results.get(n), "outputs": self.outputs.get(n, {})} for n in needs},
               "_status": "success" if all(self.results.get(n) == "success" for n in needs) else "failure"}
        if not self.condition(job.get("if"), ctx):
            self.results[name] = "skipped"
            return "skipped"
        include = (job.get("strategy") or {}).get("matrix", {}).get("include")
        if include:
            legs = self.expand(include, {**ctx, "needs": {n: {"outputs": self.outputs.get(n, {})} for n in needs}})
            results = [self.run_job(name, leg) for leg in legs]
            status = "success" if results and all(r == "success" for r in results) else "failure"
        else:
            status = self.run_job(name)
        self.results[name] = status
        return status

    def output(self) -> str:
        return "\n".join(self.log)


@pytest.fixture
def hub():
    hub = FakeHub().start()
    hub.add_token(TOKEN, "write", orgs={"test-org": "write"})
    hub.add_repo(ENS_REPO)
    hub.add_repo(MOD_REPO)
    yield hub
    hub.stop()
    assert hub.unknown == [], f"the client called endpoints the stand-in lacks: {hub.unknown}"


def test_the_workflow_runs_on_a_hosted_runner_and_each_publish_can_run_again(server, hub, tmp_path):
    runner = Runner(tmp_path, hub, server.url)
    assert shutil.which("just", path=str(runner.bin)) is None and shutil.which("uv", path=str(runner.bin)) is None
    jobs = list(runner.wf["jobs"])
    assert jobs == ["plan", "build", "gather", "modules"]
    # the module upload fails after the gather has published (e.g. the Hub has a bad minute)
    hub.fail("POST", rf"/api/datasets/{MOD_REPO}/commit/", 500, times=2)
    for name in jobs:
        runner.run(name)
    out = runner.output()
    assert "command not found" not in out, out
    assert runner.results == {"plan": "success", "build": "success", "gather": "success",
                              "modules": "failure"}, out
    assert sorted(p for p in hub.files(ENS_REPO) if p.startswith("data/")) == \
        ["data/homo_sapiens-chr21.parquet", "data/homo_sapiens-chrMT.parquet"]
    assert hub.branch_names(ENS_REPO) == ["main"] and not any(p.startswith("data/") for p in hub.files(MOD_REPO))

    # "Re-run failed jobs": only the modules job runs again, from the gather's artifact
    runner.log.clear()
    assert runner.run("modules") == "success", runner.output()
    for name in WF_MODULES:  # every module of the set, in one commit
        tables = {p for p in hub.files(MOD_REPO) if p.startswith(f"data/{name}/")}
        assert {f"data/{name}/weights.parquet", f"data/{name}/manifest.json"} <= tables, name

    # the gather run again after its success: main holds the files, nothing to do, success
    commits = hub.commits(ENS_REPO)
    runner.log.clear()
    assert runner.run("gather") == "success", runner.output()
    assert "main already holds the 2 reported file(s)" in runner.output()
    assert "nothing changed" in runner.output()
    assert hub.commits(ENS_REPO) == commits
    runner.log.clear()
    assert runner.run("modules") == "success", runner.output()
    assert "nothing changed" in runner.output()


def test_the_workflow_for_a_species_no_module_curates(server, hub, tmp_path):
    """The modules are human: for mouse the plan names no hits files and no modules, the legs
    build only their Parquet, the gather builds no module and the modules job is skipped;
    the mouse set is published to its own repo (before: every leg failed on the hits goal,
    which the Makefile refuses for a species no module curates)."""
    hub.add_repo(f"{ENS_REPO}_mus_musculus")
    runner = Runner(tmp_path, hub, server.url)
    runner.inputs["species"] = "mus_musculus"
    runner.settings["PATTERN"] = ""
    for name in runner.wf["jobs"]:
        runner.run(name)
    out = runner.output()
    assert runner.results == {"plan": "success", "build": "success", "gather": "success",
                              "modules": "skipped"}, out
    assert runner.outputs["plan"]["modules"] == "", runner.outputs["plan"]
    assert sorted(p for p in hub.files(f"{ENS_REPO}_mus_musculus") if p.startswith("data/")) == \
        ["data/mus_musculus.parquet"]
    assert not any(p.startswith("data/") for p in hub.files(MOD_REPO))
    assert "refusing to build" not in out, out

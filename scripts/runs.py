"""The last runs, from the step logs: what ran, when, how long, the result, and its log.

  python scripts/runs.py                 # the last 50 runs in the cache, newest first
  python scripts/runs.py --json          # the same as JSON (the page reads it)
  python scripts/runs.py --log RUN_ID    # one run's log: the page's captured output, else its step-log lines

A run is one `make` started from a shell or from the page (the Makefile gives it an id,
PA_RUN_ID, that every step of it records with its label), or one script run on its own
(`just upload`: one step, one run). The page also keeps the output of the runs it
starts, <cache>/runs/<id>.log, with <id>.json (label, start, seconds, exit status). Read
from files only: every species' steps.jsonl and every module's.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import re
import time
from pathlib import Path

import typer

import common

LAST = 50
RUNS_DIR = "runs"  # under the cache root: the page's runs (output and summary)
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}")
# the result of a run from its steps' outcomes, worst first
RESULTS = ("failed", "stopped", "refused", "ok")
OUTCOME = {"ok": "ok", "failed": "failed", "interrupted": "stopped", "refused": "refused"}


def epoch(stamp: str | None) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def step_logs(cache: Path) -> list[tuple[str, Path]]:
    """(where, path) of every step log in the cache: each species', each module's."""
    found = [(p.parent.name, p) for p in sorted((cache / "ensembl").glob("*/steps.jsonl"))]
    found += [(f"modules/{p.parent.name}", p) for p in sorted((cache / "modules").glob("*/steps.jsonl"))]
    return found


def short_label(label: str) -> str:
    """`make /cache/ensembl/homo_sapiens/homo_sapiens-chr21.parquet` -> `make homo_sapiens-chr21.parquet`."""
    return " ".join(os.path.basename(w.rstrip("/")) if "/" in w and not w.startswith("-") else w
                    for w in label.split())


def run_key(rec: dict) -> str:
    """The run a step-log line belongs to: its PA_RUN_ID, else its own (a script run on
    its own: step, time and target make it unique)."""
    if rec.get("run") and RUN_ID.fullmatch(str(rec["run"])):
        return str(rec["run"])
    target = hashlib.sha1(str(rec.get("target")).encode()).hexdigest()[:8]
    return f"{re.sub(r'[^0-9T]', '', str(rec['time']))}-{re.sub(r'[^A-Za-z0-9_-]', '', str(rec['step']))}-{target}"


def records(cache: Path) -> list[dict]:
    out = []
    for where, path in step_logs(cache):
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn or foreign line
            if isinstance(rec, dict) and "step" in rec and epoch(rec.get("time")) is not None:
                rec["_where"] = where
                out.append(rec)
    return out


def page_runs(cache: Path) -> dict[str, dict]:
    """The page's own record of the runs it started (<cache>/runs/<id>.json)."""
    found = {}
    for path in (cache / RUNS_DIR).glob("*.json"):
        try:
            run = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(run, dict) and RUN_ID.fullmatch(str(run.get("id", ""))):
            found[run["id"]] = run
    return found


def collect(cache: Path, last: int = LAST) -> list[dict]:
    """The last ``last`` runs, newest first: id, label, where (species or module),
    start, seconds, result (ok, failed, stopped, refused, running), steps, log."""
    groups: dict[str, list[dict]] = {}
    for rec in records(cache):
        groups.setdefault(run_key(rec), []).append(rec)
    pages = page_runs(cache)
    runs = []
    for key, recs in groups.items():
        start = min(epoch(r["time"]) for r in recs)
        end = max(epoch(r["time"]) + float(r.get("seconds") or 0) for r in recs)
        outcomes = {OUTCOME.get(str(r.get("outcome")), "failed") for r in recs}
        first = recs[0]
        label = first.get("run_label") or f"{first['step']} {first.get('target', '')}".strip()
        runs.append({"id": key, "label": short_label(label),
                     "where": sorted({r["_where"] for r in recs}), "start": iso(start),
                     "seconds": round(end - start, 1), "result": next(x for x in RESULTS if x in outcomes),
                     "steps": len(recs), "steps_not_ok": sum(OUTCOME.get(str(r.get("outcome"))) != "ok" for r in recs),
                     "log": None, "_start": start})
    by_id = {r["id"]: r for r in runs}
    for run_id, page in pages.items():
        run = by_id.get(run_id)
        if run is None:  # a page run that wrote no step (a dry run, a refused start)
            run = {"id": run_id, "label": page.get("label"), "where": [], "steps": 0, "steps_not_ok": 0}
            runs.append(run)
        started = float(page.get("started") or 0)
        run.update(label=short_label(page.get("label") or run["label"]), start=iso(started), _start=started,
                   log=f"{RUNS_DIR}/{run_id}.log", source="page")
        if page.get("done"):
            run["seconds"] = page.get("seconds")
            code = page.get("code")
            run["result"] = ("stopped" if page.get("stopped") else "ok" if code == 0
                             else "refused" if run.get("result") == "refused" else "failed")
            run["code"] = code
        else:
            run["result"] = "running"
            run["seconds"] = round(time.time() - started, 1)
        if page.get("species") and page["species"] not in run["where"]:
            run["where"] = sorted([*run["where"], page["species"]])
    runs.sort(key=lambda r: r["_start"], reverse=True)
    for r in runs:
        r.pop("_start")
        r.setdefault("source", "step log")
    return runs[:last]


def run_log(cache: Path, run_id: str) -> str:
    """One run's log: the page's captured output when it has one, else the run's lines
    of the step logs (time, step, target, seconds, outcome, message)."""
    if not RUN_ID.fullmatch(run_id):
        raise common.Failure(f"{run_id!r} is not a run id (see `just runs`)")
    saved = cache / RUNS_DIR / f"{run_id}.log"
    if saved.is_file():
        return saved.read_text(errors="replace")
    recs = [r for r in records(cache) if run_key(r) == run_id]
    if not recs:
        raise common.Failure(f"no run {run_id} in the step logs of {cache} (see `just runs`)")
    label = recs[0].get("run_label") or recs[0]["step"]
    lines = [f"# run {run_id}: {label} (from the step logs; its terminal output was not kept)"]
    for r in recs:
        lines.append(f"{r['time']}  {r['_where']}  {r['step']}  {r.get('target', '')}  "
                     f"{r.get('seconds', '')} s  {r.get('outcome')}" + (f": {r['message']}" if r.get("message") else ""))
    return "\n".join(lines) + "\n"


def render(runs: list[dict]) -> str:
    if not runs:
        return "no run recorded yet"
    out = [f"{'START':<20}  {'DURATION':>9}  {'RESULT':<8}  {'WHERE':<24}  LABEL  (ID)"]
    for r in runs:
        secs = "" if r.get("seconds") is None else f"{r['seconds']:.1f} s"
        out.append(f"{r['start']:<20}  {secs:>9}  {r['result']:<8}  {','.join(r['where'])[:24]:<24}  "
                   f"{r['label']}  ({r['id']})")
    out.append("one run's log: just runs --log ID")
    return "\n".join(out)


def main(as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
         last: int = typer.Option(LAST, min=1, help="How many runs, newest first."),
         log: str = typer.Option(None, "--log", metavar="RUN_ID", help="Print one run's log.")) -> None:
    """The last runs (make from a shell or the page, the scripts) from the step logs."""
    cfg = common.load_config()
    cache = Path(cfg["cache_dir"])
    with common.exit_on_failure(cache):
        if log:
            print(run_log(cache, log), end="")
            return
        runs = collect(cache, last)
    print(json.dumps(runs, indent=1) if as_json else render(runs))


if __name__ == "__main__":
    typer.run(main)

"""One run at a time for the page (ui/server.py): a child process in its own process
group, its merged output kept as lines for the event streams and written to
<cache>/runs/<id>.log, with <id>.json (label, start, seconds, exit status, stopped) for
the runs view (scripts/runs.py). The run's id and label go to the child as PA_RUN_ID and
PA_RUN_LABEL, so the step-log lines it writes are grouped with it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 20000
KEEP_LOGS = 200  # the page's run logs kept in <cache>/runs (oldest removed first)


class Refused(Exception):
    """A request the server answers with ``code`` and the message."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def new_run_id() -> str:
    now = time.time()
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}-page"


def shown_command(argv: list[str]) -> str:
    shown = [Path(a).name if a == sys.executable else a for a in argv]
    return shlex.join(os.path.relpath(a, ROOT) if a.startswith(str(ROOT / "scripts")) else a for a in shown)


class Runner:
    def __init__(self) -> None:
        self.cv = threading.Condition()
        self.run: dict | None = None
        self.proc: subprocess.Popen | None = None
        self.closing = False

    def busy(self) -> bool:
        return self.run is not None and not self.run["done"]

    def start(self, label: str, argv: list[str], env: dict[str, str]) -> dict:
        """Start ``argv`` (in the project, with ``env``; its CACHE_DIR keeps the run's log)."""
        with self.cv:
            if self.busy():
                raise Refused(409, f"busy: {self.run['label']} is running; wait for it or stop it")
            run_id = new_run_id()
            logs = Path(env["CACHE_DIR"]) / "runs"
            try:
                logs.mkdir(parents=True, exist_ok=True)
                log = open(logs / f"{run_id}.log", "w", encoding="utf-8")
            except OSError as exc:
                raise Refused(500, f"cannot write the run's log in {logs}: {exc.strerror or exc}") from None
            try:
                proc = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**env, "PYTHONUNBUFFERED": "1", "PA_RUN_ID": run_id,
                                             "PA_RUN_LABEL": label})
            except OSError as exc:
                log.close()
                raise Refused(500, f"cannot start {argv[0]}: {exc}") from None
            command = shown_command(argv)
            self.run = {"id": (self.run["id"] + 1) if self.run else 1, "run_id": run_id, "label": label,
                        "command": command, "species": env.get("SPECIES"), "started": time.time(),
                        "lines": [f"$ {command}"], "done": False, "code": None, "seconds": None,
                        "stopped": False, "log": f"runs/{run_id}.log"}
            self.proc = proc
            run = self.run
            log.write(f"$ {command}\n")
            self._save(logs, run)
            self.cv.notify_all()
        threading.Thread(target=self._pump, args=(proc, run, log, logs), daemon=True).start()
        prune(logs)
        return self.summary()

    @staticmethod
    def _save(logs: Path, run: dict) -> None:
        try:
            data = {k: v for k, v in run.items() if k not in ("lines", "id")}
            (logs / f"{run['run_id']}.json").write_text(json.dumps({**data, "id": run["run_id"]}))
        except OSError as exc:
            print(f"ui: could not record the run in {logs}: {exc}", file=sys.stderr, flush=True)

    def _pump(self, proc: subprocess.Popen, run: dict, log, logs: Path) -> None:
        assert proc.stdout is not None
        with log:
            for raw in proc.stdout:
                for part in raw.decode(errors="replace").replace("\r", "\n").splitlines():
                    if part.strip():
                        log.write(part + "\n")
                        with self.cv:
                            run["lines"].append(part)
                            if len(run["lines"]) > MAX_LINES:
                                del run["lines"][1:1000]
                            self.cv.notify_all()
                log.flush()
            code = proc.wait()
            with self.cv:
                run.update(done=True, code=code, seconds=round(time.time() - run["started"], 2))
                end = (f"stopped after {run['seconds']} s" if run["stopped"]
                       else f"exit status {code} after {run['seconds']} s")
                run["lines"].append(end)
                log.write(end + "\n")
                self._save(logs, run)
                self.cv.notify_all()

    def stop(self) -> bool:
        """SIGINT to the run's process group: make and the scripts clean up as on Ctrl-C."""
        with self.cv:
            if not self.busy() or self.proc is None:
                return False
            self.run["stopped"] = True
            try:
                os.killpg(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                return False
            return True

    def summary(self) -> dict | None:
        with self.cv:
            if self.run is None:
                return None
            return {k: v for k, v in self.run.items() if k != "lines"}

    def close(self, wait: float = 20.0) -> None:
        with self.cv:
            self.closing = True
            self.cv.notify_all()
        if self.stop() and self.proc is not None:
            print("ui: stopping the running job (SIGINT) ...", file=sys.stderr, flush=True)
            try:
                self.proc.wait(wait)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def prune(logs: Path, keep: int = KEEP_LOGS) -> None:
    """Keep the newest ``keep`` run logs (the ids sort by time)."""
    ids = sorted({p.name.split(".log")[0].split(".json")[0] for p in logs.glob("*-page.*")})
    for old in ids[:-keep] if len(ids) > keep else []:
        for suffix in (".log", ".json"):
            try:
                (logs / f"{old}{suffix}").unlink()
            except OSError:
                pass

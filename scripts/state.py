"""The state of one target, worked out from its file and the step logs alone: file times
(what Make compares), fetch locks and the temporaries of live writers, the step logs
(steps.jsonl), Parquet footers, and Row, which turns them into one of the states
missing, partial, running, failed, stale (with the reasons) or up to date.

stages.py applies this to every stage of the flow; status.py and the page show it.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import outputs

UP = "up to date"
HISTORY = 5  # step records kept per row


# --- files ----------------------------------------------------------------------------

def mtime(path: Path) -> int | None:
    """Modification time in ns (what Make compares), None when the file is absent."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def iso(ns: int | float | None) -> str | None:
    if ns is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns / 1e9))


def read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def make_file_text(path: Path) -> str | None:
    """What Make's $(file <path) gives: the content without one trailing newline."""
    text = read_text(path)
    return None if text is None else text.removesuffix("\n")


def lock_held(path: Path) -> bool:
    """True when another process holds a flock on ``path`` (a live fetch). Asks with a
    shared, non-blocking lock on a read-only handle, released at once; never creates it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def live_temp(path: Path) -> Path | None:
    """The temporary file of a running writer of ``path`` (common.temp_path_for names it
    .<name>.<pid>.tmp) whose process is alive, or None."""
    for temp, _, alive in outputs.temporaries(path):
        if alive and temp.name.endswith(".tmp"):
            return temp
    return None


# --- the step logs -------------------------------------------------------------------

def norm(target: str | Path) -> str:
    return os.path.normpath(str(target))


@dataclass
class StepLog:
    by_target: dict[str, list[dict]] = field(default_factory=dict)
    uploads: dict[str, dict] = field(default_factory=dict)  # repo -> latest upload attempt
    commits: dict[str, dict] = field(default_factory=dict)  # repo -> latest upload record with a commit
    refusals: dict[str, dict] = field(default_factory=dict)  # repo -> a refusal after the latest attempt

    def read(self, path: Path) -> None:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return
        lines = [line for line in text.splitlines() if line.strip()]
        try:  # one parse for the whole log (fast); line by line when a line is torn
            records = json.loads("[" + ",".join(lines) + "]")
        except ValueError:
            records = []
            for line in lines:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue  # a torn or foreign line: skip it
        targets: dict[str, str] = {}
        for rec in records:
            if not isinstance(rec, dict) or "step" not in rec:
                continue
            step = str(rec.get("step"))
            if step.startswith("upload-"):
                repo = rec.get("repo") or str(rec.get("target", "")).removeprefix("datasets/")
                if rec.get("outcome") == "refused":  # stopped before any attempt (no token, ...)
                    self.refusals[repo] = rec
                    continue
                self.uploads[repo] = rec
                self.refusals.pop(repo, None)
                if rec.get("commit"):
                    self.commits[repo] = rec
                continue
            raw = str(rec.get("target", ""))
            if raw not in targets:
                targets[raw] = norm(raw)
            self.by_target.setdefault(targets[raw], []).append(rec)

    def records(self, target: str | Path, step: str | None = None) -> list[dict]:
        recs = self.by_target.get(norm(target), [])
        return [r for r in recs if step is None or r.get("step") == step]


def one_line(text: object) -> str | None:
    if text is None:
        return None
    lines = [s for s in str(text).strip().splitlines() if s.strip()]
    return lines[0].strip()[:300] if lines else None


# --- rows ------------------------------------------------------------------------------

@dataclass
class Row:
    path: Path
    stage: str
    partition: str | None = None
    target: str | None = None
    state: str = "missing"
    reasons: list[str] = field(default_factory=list)
    rows: int | None = None
    checksum_verified: bool | None = None
    error: str | None = None
    progress: dict | None = None
    step_records: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)
    leftovers: list[dict] = field(default_factory=list)  # temporaries of dead processes

    @property
    def exists(self) -> bool:
        return mtime(self.path) is not None

    @property
    def remade(self) -> bool:
        """Would Make (re)build this target?"""
        return self.state != UP

    def stale(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def settle(self) -> None:
        """From the collected reasons and the step log, the final state."""
        last = self.step_records[-1] if self.step_records else None
        # A run stopped on purpose (Ctrl-C, Stop on the page) did not fail: the target
        # keeps its state (missing, partial, stale), with "stopped" as the reason.
        stopped = last is not None and last.get("outcome") == "interrupted"
        if self.state in ("running", "partial"):
            if self.state == "partial" and stopped:
                self.stale("last run stopped")
            elif self.state == "partial" and last is not None and last.get("outcome") != "ok":
                self.error = one_line(last.get("message")) or last.get("outcome")
            return
        if self.exists:
            self.state = "stale" if self.reasons else UP
        else:
            self.state = "missing"
        if self.state != UP and stopped:
            self.stale("last run stopped")
        elif self.state != UP and last is not None and last.get("outcome") != "ok":
            # the last attempt failed (a failed build leaves no file, or an older one)
            when = last.get("time")
            built = iso(mtime(self.path))
            if not built or not when or when >= built:
                self.state = "failed"
                self.error = one_line(last.get("message")) or last.get("outcome")

    def as_dict(self, cache: Path) -> dict:
        st = None
        try:
            st = os.stat(self.path)
        except OSError:
            pass
        ok = [r for r in self.step_records if r.get("outcome") == "ok"]
        built_by = ok[-1] if ok else None
        rel = os.path.relpath(self.path, cache)
        return {
            "id": rel, "stage": self.stage, "partition": self.partition, "path": rel,
            "target": self.target, "state": self.state,
            "reason": ", ".join(self.reasons) if self.state != UP and self.reasons else None,
            "size": st.st_size if st else None, "rows": self.rows,
            "built": iso(st.st_mtime_ns) if st else None,
            "seconds": built_by.get("seconds") if built_by and st else None,
            "peak_rss_bytes": built_by.get("peak_rss_bytes") if built_by and st else None,
            "checksum_verified": self.checksum_verified, "error": self.error,
            "progress": self.progress, "history": self.step_records[-HISTORY:],
            "release": self.extra.get("release"), "leftovers": self.leftovers,
            "module": self.extra.get("module"),
        }


def parquet_footer(path: Path) -> tuple[int | None, dict]:
    """Rows and key-value metadata from the footer only (no data pages read)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except Exception:  # noqa: BLE001 - an unreadable footer is reported, not fatal
        return None, {}
    kv = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in (meta.metadata or {}).items()
          if k != b"ARROW:schema"}
    return meta.num_rows, kv

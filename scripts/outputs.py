"""What every step that writes a target does around its work, shared by the steps
(vcf2parquet, the module steps):

- guarded(): a stop within about a second on SIGINT, SIGTERM or SIGHUP, whatever the main
  thread is doing (a polars sink, a DuckDB query); a lock per target, so that a second
  process waits and then finds the target done instead of doing the work again; and the
  sweep of the temporaries that dead processes left beside the target.
- commit(): an output made durable (fsync, rename, fsync of the directory) with its size
  and SHA-256, which the step records in its step-log line under "written".
- check(): whether a file's bytes are still those recorded when it was written (make
  verify, the uploads).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import common

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
CHUNK = 1 << 20


# --- stop on signal -----------------------------------------------------------------------
# A Python signal handler runs only in the main thread, between bytecodes: not while a
# polars sink or a DuckDB query holds the main thread. The C-level handler still writes the
# signal number to the wakeup fd at once, so a watcher thread reading it can stop the
# process: it removes what was registered, records the open step as interrupted, prints
# one line and exits 128 + the signal number.

class _Stop:
    def __init__(self, message: str):
        self.message = message
        self.paths: list[Path] = []
        self.calls: list[Callable[[], object]] = []
        self.lock = threading.Lock()
        self.over = False
        self.pending = 0  # a signal that came as the work ended: raised again once the handlers are back


_active: list[_Stop] = []


def remove_on_stop(*paths: Path) -> None:
    """Files or directories the stop removes (of the innermost guarded() / stop_on_signal())."""
    if _active:
        _active[-1].paths.extend(Path(p) for p in paths)


def call_on_stop(fn: Callable[[], object]) -> None:
    """A clean-up the stop runs before it removes the registered paths."""
    if _active:
        _active[-1].calls.append(fn)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def _hard_stop(stop: _Stop, signum: int) -> None:
    """Record and say the interrupt first, then clean up: the main thread, still running,
    may fail on a file removed under it, and must not get to record or say that."""
    common.STOPPING.set()
    try:
        try:
            common.record_interrupted()
            common.say(stop.message)
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
        except (OSError, ValueError):  # a closed pipe: stop all the same
            pass
        for fn in stop.calls:
            try:
                fn()
            except BaseException:  # noqa: BLE001 - stopping anyway
                pass
        for _ in range(2):  # twice: a writer thread may have created a file meanwhile
            for path in stop.paths:
                _remove(path)
    finally:
        os._exit(128 + signum)


def _ignore(signum, frame) -> None:
    """The Python-level handler while a watcher owns the signals (the wakeup fd needs one)."""


@contextmanager
def stop_on_signal(message: str) -> Iterator[None]:
    """While inside, SIGINT, SIGTERM and SIGHUP stop the process within about a second,
    whatever the main thread is doing: what remove_on_stop()/call_on_stop() registered is
    removed, the open steps are recorded as interrupted, ``message`` is printed and the
    exit status is 128 + the signal number. Outside the main thread it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stop = _Stop(message)
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    old_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    old = {s: signal.signal(s, _ignore) for s in SIGNALS}

    def watch() -> None:
        while True:
            try:
                data = reader.recv(1)
            except OSError:
                return
            if not data:
                return
            with stop.lock:
                if data[0] not in SIGNALS:
                    continue
                if stop.over:
                    stop.pending = data[0]
                    return
                _hard_stop(stop, data[0])

    _active.append(stop)
    watcher = threading.Thread(target=watch, name="stop-on-signal", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        with stop.lock:  # a stop under way finishes (and exits) first
            stop.over = True
        for s, handler in old.items():
            signal.signal(s, handler)
        signal.set_wakeup_fd(old_fd)
        _active.remove(stop)
        writer.close()
        watcher.join(timeout=5)
        reader.close()
        if stop.pending:  # now handled as anywhere else (common: KeyboardInterrupt)
            signal.raise_signal(stop.pending)


# --- a lock per target, temporaries of dead processes ----------------------------------------

def lock_path(cfg: dict, target: Path) -> Path:
    """<cache>/tmp/locks/<name>.<digest of the absolute path>.lock: one lock per target."""
    key = hashlib.sha1(os.path.abspath(target).encode()).hexdigest()[:10]
    return Path(cfg["cache_dir"]) / "tmp" / "locks" / f"{Path(target).name}.{key}.lock"


def started_at(proc) -> float:
    """When ``proc`` (a psutil.Process) started, in seconds since the epoch, never early.
    On Linux psutil's create_time() adds the boot time /proc gives in whole seconds, so it
    can be up to a second early; there the start is read in clock ticks since boot, rounded
    up to the next tick, and added to a boot time worked out to the nanosecond."""
    try:
        with open(f"/proc/{proc.pid}/stat", "rb") as fh:
            ticks = int(fh.read().rsplit(b")", 1)[1].split()[19])  # field 22, starttime
    except (OSError, ValueError, IndexError):
        return proc.create_time()
    boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return boot + (ticks + 1) / os.sysconf("SC_CLK_TCK")


def decided_at() -> float:
    """When the make whose recipe runs this step started: it decided then what to rebuild.
    That make is the parent, or the parent of the recipe's shell; otherwise (run by hand,
    by a test) this process's own start."""
    import psutil

    me = psutil.Process()
    try:
        parent = me.parent()
        for _ in range(2):
            if parent is None:
                break
            if parent.name() in ("make", "gmake"):
                return started_at(parent)
            if parent.name() not in ("bash", "sh", "dash"):
                break
            parent = parent.parent()
    except psutil.Error:
        pass
    return started_at(me)


def made_meanwhile(files: list[Path], inputs: list[Path]) -> bool:
    """Did another process make ``files`` after this step was decided on? Each is there,
    was written after decided_at() and is not older than any of ``inputs`` (the data it is
    made from)."""
    try:
        made = min(os.stat(f).st_mtime_ns for f in files)
        newest_input = max((os.stat(i).st_mtime_ns for i in inputs), default=0)
    except OSError:
        return False
    return made > decided_at() * 1e9 and made >= newest_input


@contextmanager
def target_lock(cfg: dict, target: Path) -> Iterator[None]:
    """Hold the target's lock (<cache>/tmp/locks) inside; another process holding it is
    waited for, with one line saying so."""
    path = lock_path(cfg, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            common.say(f"{Path(target).name}: another process is building it; waiting")
            fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        fh.close()  # releases the lock


def _pid_gone(pid: int, since_ns: int) -> bool:
    """True when no process ``pid`` runs, or the one that does started after ``since_ns``
    (the pid was reused). Never this process."""
    if pid == os.getpid():
        return False
    import psutil

    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
    return started > since_ns / 1e9 + 1


def temporaries(target: Path) -> list[tuple[Path, int, bool]]:
    """(path, pid, alive) of each temporary of ``target`` in its directory, named by
    common.temp_path_for (.<name>.<pid>[-x].tmp, .pieces, .tmp.part[.json])."""
    target = Path(target)
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    found = []
    for name in names:
        m = common.TEMP_NAME.fullmatch(name)
        if not m or m.group("name") != target.name:
            continue
        path = target.parent / name
        try:
            since = os.lstat(path).st_mtime_ns
        except OSError:
            continue
        pid = int(m.group("pid"))
        found.append((path, pid, not _pid_gone(pid, since)))
    return sorted(found)


def disk_bytes(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    try:
        return path.stat().st_size
    except OSError:
        return 0


def sweep(target: Path) -> list[Path]:
    """Remove the temporaries of ``target`` whose process is gone (killed: SIGKILL, a power
    cut); a live process's are kept. Returns what was removed."""
    removed = []
    for path, pid, alive in temporaries(target):
        if alive:
            common.say(f"{path.name}: kept, process {pid} is still running")
            continue
        size = disk_bytes(path)
        _remove(path)
        removed.append(path)
        common.say(f"removed {path.name} ({common.human_bytes(size)}), left by process {pid}, which is gone")
    return removed


@contextmanager
def guarded(cfg: dict, target: Path, interrupted: str, files: list[Path] | None = None,
            inputs: list[Path] = ()) -> Iterator[bool]:
    """Around a step that writes ``target`` (``files``: the files it writes, default the
    target; ``inputs``: the data it reads): stop_on_signal(interrupted), the target's lock,
    then the sweep of the dead temporaries of those files. Yields True when another process
    made them meanwhile (made_meanwhile; never with FORCE): then there is nothing to do, so
    two makes on one cache never do the same work twice."""
    files = list(files or [target])
    with stop_on_signal(interrupted):
        with target_lock(cfg, target):
            for f in files:
                sweep(f)
            yield not cfg.get("force_download") and made_meanwhile(files, list(inputs))


def hold(point: str) -> None:
    """A test hook: with PA_HOLD_AT=<point> in the environment, stop here in a long DuckDB
    query, native code holding the main thread as a big join or sink does (the tests send
    their signal, or SIGKILL, to a process held at a chosen point)."""
    if os.environ.get("PA_HOLD_AT") == point:
        import duckdb

        common.say(f"holding at {point} (PA_HOLD_AT)")
        duckdb.sql("SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3").fetchall()


def clamp_future_mtime(path: Path) -> None:
    """A file dated in the future (a clock set back, a copy from a machine ahead) would be
    newer than anything built from it, so Make would rebuild it, and all after it, on every
    run: warn once and date it now."""
    now = time.time()
    st = os.stat(path)
    if st.st_mtime > now + 2:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(st.st_mtime))
        common.say(f"warning: {path} is dated in the future ({when}); setting its modification time "
                   "to now, or everything made from it would be rebuilt on every run")
        os.utime(path, (st.st_atime, now))


# --- outputs committed, with their size and SHA-256 --------------------------------------------

def sha256_file(path: Path, fsync: bool = False) -> tuple[int, str]:
    """(size, SHA-256 hex digest) of the bytes of ``path``; with ``fsync``, the file is
    also synced to disk once read."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if fsync:
            os.fsync(fh.fileno())
    return size, digest.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp: Path, dest: Path) -> dict:
    """Make the finished temporary file ``tmp`` the target ``dest``: its bytes hashed and
    synced to disk, then renamed, then the directory synced, so a power cut leaves either
    the old file or the whole new one. Inside guarded(), a stop from now on removes it too
    (the step is recorded as interrupted: nothing of it is left). Returns {"bytes",
    "sha256"} for the step log."""
    size, sha256 = sha256_file(tmp, fsync=True)
    remove_on_stop(dest)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)
    return {"bytes": size, "sha256": sha256}


def written(log: Path, files: dict[Path, dict]) -> dict:
    """The step log's "written" field: each output by its path relative to the log's
    directory (so a moved cache keeps its records) with its size and SHA-256."""
    return {os.path.relpath(path, log.parent): digest for path, digest in files.items()}


# --- the records, and checks against them ----------------------------------------------------

_logs: dict[Path, tuple[int, dict]] = {}


def records(log: Path) -> dict[Path, dict]:
    """{absolute path: {"bytes", "sha256", "time"}}: the last record of each output written by
    the steps of ``log`` (read once per version of the file)."""
    log = Path(log).absolute()
    try:
        stamp = os.stat(log).st_mtime_ns
    except OSError:
        return {}
    cached = _logs.get(log)
    if cached and cached[0] == stamp:
        return cached[1]
    found: dict[Path, dict] = {}
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        if '"written"' not in line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        for rel, digest in (rec.get("written") or {}).items():
            if isinstance(digest, dict) and "sha256" in digest:
                found[Path(os.path.normpath(log.parent / rel))] = {**digest, "time": rec.get("time")}
    _logs[log] = (stamp, found)
    return found


def recorded(path: Path) -> dict | None:
    """The size and SHA-256 recorded when ``path`` was written: from the step log beside it
    or one level up (hits/ of a module), or None."""
    path = Path(path).absolute()
    for folder in (path.parent, path.parent.parent):
        entry = records(folder / "steps.jsonl").get(Path(os.path.normpath(path)))
        if entry:
            return entry
    return None


def rebuild_hint(path: Path) -> str:
    """The one command that rebuilds ``path``: a Parquet or hits file (modules/hits/) by
    itself; a module's files (modules/<module>/) by the module's goal."""
    path = Path(path)
    if path.parent.parent.name == "modules" and path.parent.name != "hits":
        return f"make {path.parent.name} FORCE=1"
    return f"make {path} FORCE=1"


def check(path: Path, sha256: str | None = None) -> str | None:
    """None when ``path`` holds the bytes recorded when it was written (or nothing was
    recorded); else one sentence naming it, what differs and how to rebuild it. Hashes the
    file unless its SHA-256 is given."""
    entry = recorded(path)
    if entry is None:
        return None
    size = os.stat(path).st_size
    if size != entry["bytes"]:
        what = f"{size:,} bytes, {entry['bytes']:,} when it was written"
    else:
        sha256 = sha256 or sha256_file(path)[1]
        if sha256 == entry["sha256"]:
            return None
        what = f"SHA-256 {sha256[:12]}…, {entry['sha256'][:12]}… when it was written"
    return (f"{path}: its bytes are no longer those written at {entry.get('time') or '?'} ({what}): "
            f"damaged; rebuild it with `{rebuild_hint(path)}`")

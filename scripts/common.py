"""Helpers shared by the scripts: configuration, paths, messages, step log,
peak memory, atomic writes and progress. Standard library + tqdm only."""

from __future__ import annotations

import json
import os
import re
import resource
import secrets
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import config as _config

ROOT = _config.ROOT
PROG = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "prepare-annotations"

# A plain file name: letters, digits, dot, dash, underscore; no "..", no leading dot.
# Anything else (path separators, whitespace, shell or Make metacharacters such as
# $ ; | & ( ) * ? : % #) never becomes a path or a Make target.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class Failure(Exception):
    """An expected failure: the message is shown to the user, exit code 1."""


class Refusal(Failure):
    """A Failure before any work was attempted (no token, a repo that must not be
    written): the step log records it as "refused", not as a failed attempt."""


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


# SIGTERM and SIGHUP (timeout, a cancelled CI job, a closed terminal) unwind like Ctrl-C,
# so every script's clean-up of temporary files runs for them too.
if threading.current_thread() is threading.main_thread():
    for _signal in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(_signal, _interrupt)


@contextmanager
def exit_on_failure(subject: object) -> Iterator[None]:
    """Turn an expected failure into one sentence and exit 1: a Failure as it is, an
    OSError as "<its file, else subject>: <reason>"."""
    try:
        yield
    except Failure as exc:
        die(str(exc))
    except OSError as exc:
        die(f"{exc.filename or subject}: {exc.strerror or exc}")


def load_config() -> dict:
    """The configuration; the project's .env goes into the environment first (below
    what is set there), so that the libraries see its HF_TOKEN and the like too."""
    try:
        _config.apply_dotenv()
        return _config.load()
    except _config.ConfigError as exc:
        die(f"configuration: {exc}", code=2)
        raise  # unreachable


def say(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


# Set while outputs.stop_on_signal's watcher stops the process: a failure the main thread
# meets meanwhile (a file the stop just removed) is not reported; the watcher's exit comes first.
STOPPING = threading.Event()


def die(message: str, code: int = 1) -> None:
    if STOPPING.is_set():
        threading.Event().wait()
    say(f"error: {message}")
    sys.exit(code)


def check_name(name: str, where: str = "") -> str:
    """Return ``name`` if it is a plain, safe file name, else raise Failure."""
    if not SAFE_NAME.fullmatch(name) or ".." in name:
        origin = f" (from {where})" if where else ""
        raise Failure(
            f"refusing unsafe file name {name!r}{origin}: only letters, digits, '.', '-' "
            "and '_' are allowed, without '..' (no path separators, whitespace, or shell/Make "
            "metacharacters)"
        )
    return name


# --- paths ---------------------------------------------------------------------

def species_dir(cfg: dict, species: str | None = None) -> Path:
    species = check_name(species or cfg["species"], "species")
    return Path(cfg["cache_dir"]) / "ensembl" / species


def urls_json(cfg: dict) -> Path:
    return species_dir(cfg) / "vcf_urls.json"


def checksums_path(cfg: dict) -> Path:
    return species_dir(cfg) / "CHECKSUMS"


def vcf_dir(cfg: dict) -> Path:
    return species_dir(cfg) / "vcf"


def step_log_path(cfg: dict) -> Path:
    return species_dir(cfg) / "steps.jsonl"


@dataclass(frozen=True)
class ManifestEntry:
    """One file of the discovery manifest (vcf_urls.json) and the targets made from it."""
    name: str        # homo_sapiens-chr21.vcf.gz
    url: str
    vcf: Path        # <species dir>/vcf/<name>
    parquet: Path    # <species dir>/<stem>.parquet

    @property
    def stem(self) -> str:
        return self.parquet.stem


def vcf_stem(name: str) -> str:
    """homo_sapiens-chr21.vcf.gz -> homo_sapiens-chr21 (the Parquet target's stem)."""
    return name.removesuffix(".gz").removesuffix(".bgz").removesuffix(".vcf")


def file_label(species: str, stem: str) -> str:
    """The short name of a species' file: homo_sapiens-chr21 -> chr21; mus_musculus ->
    mus_musculus (a single-file species)."""
    return stem.removeprefix(f"{species}-") if stem != species else stem


def manifest(cfg: dict) -> list[ManifestEntry]:
    """The species' files as discovery listed them in vcf_urls.json, in its order: the
    pipeline's own set of VCF and Parquet targets (the same as the Make fragment's
    VCF_NAMES). Raises Failure when there is no readable manifest."""
    source = urls_json(cfg)
    try:
        urls = json.loads(source.read_text())
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ValueError("not a list of URLs")
    except FileNotFoundError:
        raise Failure(f"{source}: no discovery manifest; run `make refresh` (or `make download`) first") from None
    except (OSError, ValueError) as exc:
        raise Failure(f"{source}: cannot read ({exc}); run `make refresh`") from None
    folder = species_dir(cfg)
    entries = []
    for url in urls:
        name = check_name(url.rsplit("/", 1)[-1], str(source))
        entries.append(ManifestEntry(name, url, folder / "vcf" / name,
                                     folder / f"{vcf_stem(name)}.parquet"))
    return entries


@dataclass
class ParquetSet:
    """The species' Parquet set as the pipeline defines it: the discovery manifest's
    Parquet targets (``ready`` and ``not_ready`` with the reason), and the other
    *.parquet files of the species directory (``stray``, with the reason they are not
    part of it)."""
    entries: list[ManifestEntry]
    ready: list[ManifestEntry]
    not_ready: list[tuple[ManifestEntry, str]]
    stray: list[tuple[Path, str]]

    def problem(self) -> str:
        """One sentence naming the manifest files that are not ready."""
        listed = ", ".join(f"{e.parquet.name} ({why})" for e, why in self.not_ready)
        return (f"{len(self.not_ready)} of the {len(self.entries)} files of the discovery manifest "
                f"have no up-to-date Parquet in {self.entries[0].parquet.parent}: {listed}")


def parquet_set(cfg: dict) -> ParquetSet:
    """Sort the species' Parquet files by the discovery manifest (vcf_urls.json).
    A target is ready when its Parquet is a file not older than its VCF. A VCF that is
    gone (deleted after conversion to save disk) does not make it stale: the Parquet
    was built from the file the manifest names. Raises Failure without a manifest."""
    entries = manifest(cfg)
    ready, not_ready = [], []
    for entry in entries:
        if not entry.parquet.is_file():
            not_ready.append((entry, "no Parquet"))
            continue
        try:
            vcf_mtime = entry.vcf.stat().st_mtime_ns
        except FileNotFoundError:
            vcf_mtime = None
        if vcf_mtime is not None and vcf_mtime > entry.parquet.stat().st_mtime_ns:
            not_ready.append((entry, f"older than its VCF vcf/{entry.name}"))
        else:
            ready.append(entry)
    targets = {e.parquet.name for e in entries}
    stray = []
    folder = species_dir(cfg)
    for path in sorted(folder.glob("*.parquet")):  # pathlib: hidden names too
        if path.name in targets or not path.is_file():
            continue
        if path.name.startswith(".") or path.name.endswith(".tmp.parquet"):
            why = "temporary file of an interrupted conversion, not in the discovery manifest"
        else:
            why = "not a target of the discovery manifest (vcf_urls.json)"
        stray.append((path, why))
    return ParquetSet(entries, ready, not_ready, stray)


# --- files -----------------------------------------------------------------------

def atomic_write(path: Path, data: bytes, only_if_changed: bool = False) -> bool:
    """Write ``data`` to ``path`` through a temporary file in the same directory, synced
    to disk, and a rename. The file gets the mode the umask gives any new file (0644 under
    umask 022), as the other outputs do. With ``only_if_changed`` an identical existing file
    is left untouched (its mtime kept, so Make sees nothing new). Returns True when the
    file was written."""
    path = Path(path)
    if only_if_changed and path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path, f"-{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return True


# A temporary sibling of a target: .<name>.<pid>.tmp (temp_path_for), .<name>.<pid>-<x>.tmp
# (atomic_write), .<name>.<pid>.pieces (a conversion's pieces), .<name>.<pid>.tmp.part[.json]
# (a download into a temporary name). The pid says whose it is: outputs.sweep() removes
# those of processes that are gone, status shows those that remain.
TEMP_NAME = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)(?:-[0-9a-f]+)?\.(?:tmp|pieces)(?:\.part(?:\.json)?)?")


def temp_path_for(path: Path, suffix: str = ".tmp") -> Path:
    """A temporary sibling name for ``path`` (same directory, so rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}{suffix}")


# --- resources and the step log ------------------------------------------------------

def peak_rss_bytes() -> int:
    """True peak resident set size of this process and of its waited-for children
    (the kernel's high-water mark, not a sample)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) * 1024  # Linux reports KiB


def append_step(log_path: Path, record: dict) -> None:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, sort_keys=False, default=str) + "\n"
    # One write() of one line with O_APPEND: concurrent writers (make -j) do not interleave.
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


_open_steps: list = []  # finish() of each step in progress, innermost last


def record_interrupted() -> None:
    """Record every step in progress as interrupted: for a stop that ends the process
    without unwinding (outputs.stop_on_signal)."""
    for finish in reversed(list(_open_steps)):
        finish("interrupted", "interrupted")


@contextmanager
def step(log_path: Path, name: str, target: str | Path) -> Iterator[dict]:
    """Time a step and append one JSON line (step, target, seconds, peak RSS, extra
    fields set on the yielded dict, outcome) to ``log_path``, whatever the outcome."""
    record: dict = {}
    started = time.time()
    t0 = time.perf_counter()
    once = threading.Lock()
    done: list[str] = []

    def finish(outcome: str, message: str | None) -> None:
        with once:
            if done:
                return
            done.append(outcome)
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "step": name,
            "target": str(target),
            "seconds": round(time.perf_counter() - t0, 3),
            "peak_rss_bytes": peak_rss_bytes(),
            **record,
            "outcome": outcome,
        }
        # the run this step belongs to (one `make` from a shell, or a run started on the
        # page): the runs view groups the step-log lines by it
        for key, var in (("run", "PA_RUN_ID"), ("run_label", "PA_RUN_LABEL")):
            if os.environ.get(var):
                entry[key] = os.environ[var][:200]
        if message:
            entry["message"] = message[:500]
        try:
            append_step(log_path, entry)
        except OSError as exc:
            say(f"warning: could not write the step log {log_path}: {exc}")

    _open_steps.append(finish)
    try:
        yield record
    except KeyboardInterrupt:
        finish("interrupted", "interrupted")
        raise
    except Refusal as exc:
        finish("refused", str(exc))
        raise
    except SystemExit as exc:
        if exc.code not in (0, None):
            finish("failed", str(exc.code))
        else:
            finish("ok", None)
        raise
    except BaseException as exc:  # noqa: BLE001 - recorded, then re-raised
        finish("failed", str(exc) or type(exc).__name__)
        raise
    else:
        finish("ok", None)
    finally:
        _open_steps.remove(finish)


# --- progress ------------------------------------------------------------------------

def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


class Progress:
    """Bytes or rows progress: a tqdm bar on a terminal, plain periodic lines
    (every ``every`` seconds) otherwise."""

    def __init__(self, label: str, total: int | None = None, initial: int = 0,
                 unit: str = "B", every: float = 10.0, stream=None):
        self.label, self.total, self.unit = label, total, unit
        self.done = initial
        self.start_done = initial
        self.every = every
        self.stream = stream or sys.stderr
        self.t0 = self.last = time.monotonic()
        self.bar = None
        # Under `make -jN` several processes share the terminal: plain lines, no bars.
        if self.stream.isatty() and "--jobserver" not in os.environ.get("MAKEFLAGS", ""):
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit=unit, unit_scale=True,
                            unit_divisor=1024 if unit == "B" else 1000, desc=label,
                            file=self.stream, leave=False, dynamic_ncols=True)

    def _fmt(self, n: float) -> str:
        return human_bytes(n) if self.unit == "B" else f"{n:,.0f} {self.unit}"

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        speed = (self.done - self.start_done) / elapsed
        text = f"{PROG}: {self.label}: {self._fmt(self.done)}"
        if self.total:
            text += f" of {self._fmt(self.total)} ({100 * self.done / self.total:.0f}%)"
        text += f", {self._fmt(speed)}/s"
        if self.total and speed > 0:
            text += f", ETA {max(self.total - self.done, 0) / speed:.0f} s"
        return text

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

"""BSD `sum` checksums: parse Ensembl's CHECKSUMS, compute, verify downloads.

  python scripts/sumcheck.py verify          # re-check every downloaded VCF, remove corrupted ones
  python scripts/sumcheck.py sum FILE...     # print "checksum blocks name" like `sum`

The BSD algorithm (16-bit; for each byte rotate the checksum right by one bit, then
add the byte) with blocks = ceil(bytes / 1024). The system's GNU `sum -r` computes it
at disk speed; the pure-Python version is the fallback and the test oracle.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import typer

import common
import outputs


class Sum(NamedTuple):
    checksum: int
    blocks: int

    def __str__(self) -> str:
        return f"{self.checksum:05d} {self.blocks}"


def bsd_sum_bytes(data: bytes, state: int = 0) -> int:
    """Fold ``data`` into a running BSD checksum ``state``."""
    for byte in data:
        state = ((state >> 1) | ((state & 1) << 15)) + byte
        state &= 0xFFFF
    return state


def python_sum(path: Path) -> Sum:
    state = size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            state = bsd_sum_bytes(chunk, state)
            size += len(chunk)
    return Sum(state, -(-size // 1024))


@functools.cache
def _system_sum() -> str | None:
    """Path of GNU coreutils `sum` (its -r is the BSD algorithm), if present."""
    exe = shutil.which("sum")
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return exe if out.returncode == 0 and "GNU coreutils" in out.stdout else None


def file_sum(path: Path) -> Sum:
    """BSD sum of a file: the system `sum -r` when available, else pure Python."""
    exe = _system_sum()
    if exe is None:
        return python_sum(path)
    out = subprocess.run([exe, "-r", "--", str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        raise common.Failure(f"{path}: `sum` failed: {out.stderr.strip()}")
    checksum, blocks = out.stdout.split()[:2]
    return Sum(int(checksum), int(blocks))


def parse_checksums(text: str) -> dict[str, Sum]:
    """Parse CHECKSUMS lines ``checksum blocks name`` (tabs or spaces, zero-padded)."""
    table: dict[str, Sum] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
            continue
        table[parts[2]] = Sum(int(parts[0]), int(parts[1]))
    return table


def load_checksums(path: Path) -> dict[str, Sum] | None:
    """The parsed CHECKSUMS file, or None when there is none."""
    try:
        return parse_checksums(path.read_text(errors="replace"))
    except FileNotFoundError:
        return None


def mismatch(path: Path, expected: Sum) -> str | None:
    """None when ``path`` matches ``expected``, else a sentence saying how it differs."""
    actual = file_sum(path)
    if actual == expected:
        return None
    return f"{path}: checksum mismatch: expected {expected} (sum, 1K blocks), got {actual}"


app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


def source_mismatch(parquet: Path, name: str, table: dict[str, Sum] | None) -> str | None:
    """A sentence when ``parquet`` was converted from a VCF ``name`` whose checksum (the
    source_checksum in its footer) is not the one CHECKSUMS lists, else None."""
    if not table or name not in table:
        return None
    import pyarrow.parquet as pq

    try:
        got = (pq.read_metadata(parquet).metadata or {}).get(b"source_checksum")
    except Exception:  # noqa: BLE001 - an unreadable footer is for the other checks to report
        return None
    if got is None or got.decode() == str(table[name]):
        return None
    return (f"{parquet}: converted from a {name} whose checksum {got.decode()} does not match CHECKSUMS "
            f"({table[name]}); rebuild it with `{outputs.rebuild_hint(parquet)}`")


def check_vcfs(cfg: dict, table: dict[str, Sum] | None) -> tuple[int, int]:
    """Each downloaded VCF against CHECKSUMS; the corrupted ones are removed. Returns
    (files checked, files removed)."""
    vdir, sums_file = common.vcf_dir(cfg), common.checksums_path(cfg)
    files = sorted(vdir.glob("*.vcf.gz")) if vdir.is_dir() else []
    if not files:
        common.say(f"no downloaded VCFs in {vdir}")
        return 0, 0
    if table is None:
        common.say(f"warning: {sums_file} is missing (the server published none): nothing to verify "
                   "the VCFs against; downloads were checked by size only")
        return 0, 0
    bad = 0
    for path in files:
        expected = table.get(path.name)
        if expected is None:
            common.say(f"{path.name}: not listed in {sums_file}, skipped")
            continue
        problem = mismatch(path, expected)
        if problem:
            bad += 1
            path.unlink()
            common.say(f"{problem}; removed")
        else:
            common.say(f"{path.name}: OK ({expected})")
    return len(files), bad


def check_outputs(cfg: dict, table: dict[str, Sum] | None) -> tuple[int, list[tuple[Path, str]]]:
    """Every output whose size and SHA-256 a step recorded (the species' Parquet set, the
    modules' hits and tables) against its bytes now, and each Parquet of the discovery
    manifest against the checksum its VCF should have had. Returns (files checked,
    [(file, what is wrong)]); nothing is removed."""
    modules = Path(cfg["cache_dir"]) / "modules"  # the hits' log, then each module's
    logs = [common.step_log_path(cfg), modules / "steps.jsonl", *sorted(modules.glob("*/steps.jsonl"))]
    recorded = {path for log in logs for path in outputs.records(log) if path.is_file()}
    problems = []
    try:
        entries = common.manifest(cfg)
    except common.Failure:
        entries = []
    for e in entries:
        if not e.parquet.is_file():
            continue
        if e.parquet not in recorded:
            common.say(f"warning: {e.parquet.name}: no size and SHA-256 were recorded when it was written "
                       f"(made by an earlier version?): its bytes cannot be checked; "
                       f"`{outputs.rebuild_hint(e.parquet)}` converts it again and records them")
        if problem := source_mismatch(e.parquet, e.name, table):
            problems.append((e.parquet, problem))
    for path in sorted(recorded):
        if problem := outputs.check(path):
            problems.append((path, problem))
        else:
            common.say(f"{path.name}: OK (as written)")
    return len(recorded), problems


@app.command()
def verify() -> None:
    """Re-check every downloaded VCF of the species against CHECKSUMS and remove the
    corrupted ones, so that the next `make download` fetches only those again; then check
    every output against the size and SHA-256 recorded when it was written, and each
    Parquet against its VCF's checksum, naming those that differ (and the command that
    rebuilds each)."""
    cfg = common.load_config()
    table = load_checksums(common.checksums_path(cfg))
    with common.step(common.step_log_path(cfg), "verify", common.vcf_dir(cfg)) as rec:
        files, bad = check_vcfs(cfg, table)
        checked, problems = check_outputs(cfg, table)
        rec.update(files=files, corrupted=bad, outputs=checked, damaged=[str(path) for path, _ in problems])
    for _, problem in problems:
        common.say(f"error: {problem}")
    if bad or problems:
        common.die("; ".join(([f"{bad} corrupted VCF(s) removed; `make download` fetches them again"] if bad else [])
                             + ([f"{len(problems)} output(s) differ from what was written or checked; "
                                 "rebuild each with the command named above"] if problems else [])))


@app.command("sum")
def sum_cmd(files: list[Path], python: bool = typer.Option(False, help="Use the pure-Python implementation.")) -> None:
    """Print `checksum blocks name` for each file, like `sum`."""
    for path in files:
        try:
            result = python_sum(path) if python else file_sum(path)
        except OSError as exc:
            common.die(f"{path}: {exc.strerror}")
        print(f"{result} {path}")


if __name__ == "__main__":
    app()

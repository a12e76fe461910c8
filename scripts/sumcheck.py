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


@app.command()
def verify() -> None:
    """Re-check every downloaded VCF of the species against CHECKSUMS; remove the
    corrupted ones so that the next `make download` fetches only those again."""
    cfg = common.load_config()
    vdir, sums_file = common.vcf_dir(cfg), common.checksums_path(cfg)
    table = load_checksums(sums_file)
    files = sorted(vdir.glob("*.vcf.gz")) if vdir.is_dir() else []
    if not files:
        common.say(f"no downloaded VCFs in {vdir}")
        return
    if table is None:
        common.say(f"warning: {sums_file} is missing (the server published none): nothing to verify "
                   "against; downloads were checked by size only")
        return
    bad = 0
    with common.step(common.step_log_path(cfg), "verify", vdir) as rec:
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
        rec.update(files=len(files), corrupted=bad)
    if bad:
        common.die(f"{bad} corrupted file(s) removed; `make download` fetches them again")


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

"""Run the whole pipeline on the bundled offline mini-mirror and show what it made.

Builds the mini Ensembl mirror (scripts/dev/mirror.py) into demo/mirror, serves it on
127.0.0.1 on a free port, runs `make download parquet modules` for homo_sapiens (all six
modules, from their synthetic sources on the mirror) and `make download parquet` for
mus_musculus into a fresh demo/cache, runs the human pipeline a second time to show it
has nothing left to do, then prints the files, the per-module row counts, ends with
`just status` for the demo cache and the one command that opens the UI on it.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import time
from pathlib import Path

import typer

import onpath  # noqa: F401 - scripts/ on sys.path, before the pipeline's modules
import common
import mirror

DEMO = common.ROOT / "demo"
RUNS = [("homo_sapiens", ["download", "parquet", "modules"]), ("mus_musculus", ["download", "parquet"])]


def run_make(goals: list[str], env: dict[str, str]) -> float:
    cmd = ["make", "-C", str(common.ROOT), "--no-print-directory", *goals]
    print(f"\n$ {' '.join(f'{k}={env[k]}' for k in ('SPECIES', 'CACHE_DIR', 'BASE_URL'))} make {' '.join(goals)}",
          flush=True)
    t0 = time.perf_counter()
    if subprocess.run(cmd, env=env).returncode != 0:
        common.die(f"`make {' '.join(goals)}` failed (see above)")
    return time.perf_counter() - t0


def report(cache: Path) -> None:
    import polars as pl
    import pyarrow.parquet as pq

    print(f"\nWhat the demo produced under {cache}:")
    for path in sorted(p for p in cache.rglob("*") if p.is_file() and p.relative_to(cache).parts[0] != "tmp"):
        rel = path.relative_to(cache)
        extra = ""
        if path.suffix == ".parquet":
            meta = pq.ParquetFile(path).metadata
            extra = f"  {meta.num_rows:>6,} rows, {meta.num_columns} columns"
        print(f"  {str(rel):<62} {common.human_bytes(path.stat().st_size):>10}{extra}")
    print("\nThe modules (rows per table; the reports list what was not published and why):")
    for folder in sorted(p for p in (cache / "modules").glob("*") if (p / "weights.parquet").exists()):
        counts = {n: pq.ParquetFile(folder / f"{n}.parquet").metadata.num_rows for n in ("annotations", "studies", "weights")}
        reports = {n: len(list(csv.reader((folder / f"{n}.tsv").open(newline=""), delimiter="\t"))) - 1
                   for n in ("unresolved", "conflicts")}
        print(f"  {folder.name:<16} " + ", ".join(f"{n} {c}" for n, c in {**counts, **reports}.items()))
    weights = cache / "modules" / "longevitymap" / "weights.parquet"
    if weights.exists():
        print(f"\nLongevityMap weights for the APOE variants ({weights.name}):")
        df = pl.read_parquet(weights).filter(pl.col("rsid").is_in(["rs7412", "rs429358"]))
        with pl.Config(tbl_rows=20, tbl_cols=10, fmt_str_lengths=20):
            print(df.select("rsid", "genotype", "weight", "state", "chrom", "start", "ref", "alts", "clin_sig")
                  .sort("rsid", "weight"))


def main(fresh: bool = typer.Option(True, help="Start from an empty demo/cache.")) -> None:
    """Run the demo."""
    mirror_dir, cache = DEMO / "mirror", DEMO / "cache"
    stamp = mirror_dir / ".built"
    sources = [common.ROOT / "scripts" / "dev" / n for n in ("mirror.py", "synthvcf.py", "lmfixture.py",
                                                              "modfixtures.py")]
    if not stamp.exists() or any(s.stat().st_mtime > stamp.stat().st_mtime for s in sources):
        shutil.rmtree(mirror_dir, ignore_errors=True)
        mirror.build(mirror_dir)
        stamp.touch()
    if fresh:
        shutil.rmtree(cache, ignore_errors=True)
    with mirror.MirrorServer(mirror_dir, style="pre") as server:
        print(f"mini Ensembl mirror {mirror_dir} served at {server.url}/")
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
        # The modules' sources on the mirror, in a .env file that the commands printed below name too.
        sources = DEMO / "sources.env"
        common.atomic_write(sources, "".join(f"{k}={v}\n" for k, v in mirror.module_env(server.url).items()).encode())
        env.update(CACHE_DIR=str(cache), BASE_URL=f"{server.url}/", FORCE="0", PA_DOTENV=str(sources))
        for species, goals in RUNS:
            run_make(goals, {**env, "SPECIES": species})
        before = len(server.log)
        seconds = run_make(RUNS[0][1], {**env, "SPECIES": RUNS[0][0]})
        print(f"second run: {seconds:.2f} s, {len(server.log) - before} HTTP requests")
        base_url = f"{server.url}/"
    report(cache)
    see(cache, base_url, RUNS[0][0])


def see(cache: Path, base_url: str, species: str) -> None:
    """`just status` for the demo cache, and the command that opens the UI on it. The
    variables name the demo's listing (BASE_URL) and the modules' sources (PA_DOTENV: the
    .env file of <MODULE>_URL lines), so nothing looks stale or rediscovers."""
    cache_arg = os.path.relpath(cache, common.ROOT) if cache.is_relative_to(common.ROOT) else str(cache)
    dotenv = DEMO / "sources.env"
    dotenv_arg = os.path.relpath(dotenv, common.ROOT) if dotenv.is_relative_to(common.ROOT) else str(dotenv)
    words = [f"CACHE_DIR={cache_arg}", f"BASE_URL={base_url}", f"PA_DOTENV={dotenv_arg}"]
    just = common.ROOT / ".venv" / "bin" / "just"
    print(f"\n$ just status {' '.join(words)}", flush=True)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    subprocess.run([str(just), "--justfile", str(common.ROOT / "justfile"), "status", *words, f"SPECIES={species}"],
                   cwd=common.ROOT, env=env)
    print("\nSee it in the browser (http://127.0.0.1:3000, Ctrl-C stops it):")
    print(f"  .venv/bin/just ui {' '.join(words)}")
    print(f"or as one HTML file ({cache_arg}/report.html): make report {' '.join(words)}")
    print("(The mini mirror has stopped: parquet, modules, verify and one-file runs work offline; for download "
          f"or refresh serve it again first: .venv/bin/python scripts/dev/mirror.py serve demo/mirror "
          f"--port {base_url.rstrip('/').rsplit(':', 1)[-1]})")


if __name__ == "__main__":
    typer.run(main)

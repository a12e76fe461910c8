"""Test helpers: real `make` runs against a real HTTP mirror on 127.0.0.1, and small
Ensembl-shaped Parquet files (the converter's contract) written with polars."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make(*args: str, cache: Path, server=None, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """Run ``make -C ROOT args`` with CACHE_DIR (and BASE_URL for ``server``) set on the
    command line; extra environment variables from ``env``. Records the wall time on
    the result as ``.seconds``."""
    cmd = ["make", "-C", str(ROOT), "--no-print-directory", *args, f"CACHE_DIR={cache}"]
    if server is not None:
        cmd.append(f"BASE_URL={server.url}/")
    full_env = dict(os.environ)  # conftest removed the caller's configuration variables
    full_env.update({"RETRY_BACKOFF": "0.01", "CONNECT_TIMEOUT": "5", "READ_TIMEOUT": "5"})
    full_env.update(env)
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
    result.seconds = time.perf_counter() - t0
    return result


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


# --- Ensembl-shaped Parquet files -------------------------------------------------------------

FLAGS = ("CLIN_pathogenic", "CLIN_benign", "CLIN_likely_pathogenic", "CLIN_likely_benign")


def record(chrom, pos, rsid, ref, alts, *flags):
    return {"chrom": chrom, "pos": pos, "id": rsid, "ref": ref, "alts": alts, "flags": set(flags)}


def demo_record(variant: tuple) -> dict:
    """A record from a (chrom, pos, rsid, ref, alt, info) demo variant, its ClinVar and CLIN_* flags kept."""
    chrom, pos, rsid, ref, alt, info = variant
    flags = [f for f in info.split(";") if f.startswith("CLIN_")] + (["ClinVar"] if "ClinVar_" in info else [])
    return record(chrom, pos, rsid, ref, alt.split(","), *flags)


def write_ensembl(path: Path, records: list[dict], clinvar: str | None = "ClinVar_202502",
                  drop: tuple[str, ...] = ()) -> Path:
    """An Ensembl-shaped Parquet file (the converter's contract), one row per record."""
    import polars as pl

    cols = {
        "chrom": pl.Series([r["chrom"] for r in records], dtype=pl.String),
        "start": pl.Series([r["pos"] for r in records], dtype=pl.UInt32),
        "end": pl.Series([r["pos"] + len(r["ref"]) - 1 for r in records], dtype=pl.UInt32),
        "id": pl.Series([r["id"] for r in records], dtype=pl.String),
        "ref": pl.Series([r["ref"] for r in records], dtype=pl.String),
        "alt": pl.Series(["|".join(r["alts"]) for r in records], dtype=pl.String),
        "alts": pl.Series([r["alts"] for r in records], dtype=pl.List(pl.String)),
        "qual": pl.Series([None] * len(records), dtype=pl.Float64),
        "filter": pl.Series([None] * len(records), dtype=pl.String),
        "dbSNP_156": pl.Series([True] * len(records), dtype=pl.Boolean),
    }
    if clinvar:
        cols[clinvar] = pl.Series(["ClinVar" in r["flags"] for r in records], dtype=pl.Boolean)
    cols["TSA"] = pl.Series(["SNV"] * len(records), dtype=pl.String)
    other_clin = sorted({f for r in records for f in r["flags"] if f.startswith("CLIN_")} - set(FLAGS))
    for flag in (*FLAGS, *other_clin):
        cols[flag] = pl.Series([flag in r["flags"] for r in records], dtype=pl.Boolean)
    df = pl.DataFrame({k: v for k, v in cols.items() if k not in drop})
    path.parent.mkdir(parents=True, exist_ok=True)
    df.write_parquet(path)
    return path

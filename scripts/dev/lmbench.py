"""Benchmark of `longevitymap` on a synthetic Ensembl Parquet set.

    python scripts/dev/lmbench.py data DIR --rows 20000000     # the synthetic set (cached)
    python scripts/dev/lmbench.py run DIR OUT.json             # time the real script on it

`data` writes, with DuckDB straight to Parquet (no VCF), `--files` per-chromosome
files in the Ensembl Parquet layout (chrom, start, end, id, ref, alt, alts, qual,
filter, then 30 INFO columns: source flags incl. ClinVar_202409, TSA, E_* and CLIN_*
flags, MA/MAF/MAC/AA). Rows come from arithmetic on the row number, so the same
arguments always give the same data. The curated rsids of the demo curation
(`lmfixture`) are planted among them (`DEMO_VARIANTS`, same records as the demo).
`manifest.json` is written last: it marks the set complete.

`run` builds the demo curation, runs `scripts/modules.py build longevitymap` as a child
process against the set (ENSEMBL_PARQUET; CACHE_DIR beside OUT.json),
and records wall time and the child's true peak RSS (getrusage) in OUT.json.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import typer

import onpath  # noqa: F401 - scripts/ on sys.path, before the pipeline's modules
import common
import lmfixture
from synthvcf import CLIN_FLAGS, SOURCE_FLAGS  # the flags of the generator's release-114 header
from synthvcf import EVIDENCE_FLAGS as E_FLAGS

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)

# Pseudo-random but deterministic: a multiplicative hash of the row number, one
# "stream" per column (k), reduced to [0, 1).
def _u(k: int) -> str:
    return f"((((i + {k * 7919}) * 2654435761) % 4294967296) / 4294967296.0)"


def _select_synthetic() -> str:
    flags = [f'{_u(10 + n)} < 0.02 AS "{f}"' if f == "ClinVar_202409" else
             f'{_u(10 + n)} < {0.985 if f.startswith("dbSNP") else 0.004} AS "{f}"'
             for n, f in enumerate(SOURCE_FLAGS)]
    flags += [f'{_u(20 + n)} < 0.25 AS "{f}"' for n, f in enumerate(E_FLAGS)]
    flags += [f'{_u(40 + n)} < 0.003 AS "{f}"' for n, f in enumerate(CLIN_FLAGS)]
    return f"""
    WITH rows AS (
        SELECT range AS i FROM range(CAST($first AS BIGINT), CAST($first + $n AS BIGINT))
    ),
    drawn AS (
        SELECT i,
               ['A', 'C', 'G', 'T'][1 + CAST(floor({_u(1)} * 4) AS INTEGER)] AS ref1,
               CAST(floor({_u(2)} * 3) AS INTEGER) AS shift,
               {_u(3)} < 0.13 AS multi,
               {_u(4)} < 0.12 AS indel
        FROM rows
    ),
    alleles AS (
        SELECT *,
               CASE WHEN indel THEN ref1 || 'AG' ELSE ref1 END AS ref,
               CASE WHEN indel THEN [ref1]
                    ELSE [translate(ref1, 'ACGT', ['CGTA', 'GTAC', 'TACG'][1 + shift])] END
               || CASE WHEN multi THEN [translate(ref1, 'ACGT', ['CGTA', 'GTAC', 'TACG'][1 + (shift + 1) % 3])]
                       ELSE [] END AS alts
        FROM drawn
    )
    SELECT $chrom AS chrom,
           CAST(10000 + i * 10 - $first * 10 AS UINTEGER) AS start,
           CAST(10000 + i * 10 - $first * 10 + length(ref) - 1 AS UINTEGER) AS "end",
           -- ids scrambled (a bijection of the row number), like real rsids along a chromosome
           'rs' || CAST(3000000000 + (i * 2654435761) % 4294967296 AS VARCHAR) AS id,
           ref,
           array_to_string(alts, '|') AS alt,
           alts,
           CAST(NULL AS DOUBLE) AS qual,
           CAST(NULL AS VARCHAR) AS filter,
           {', '.join(flags)},
           CASE WHEN indel THEN 'deletion' ELSE 'SNV' END AS TSA,
           CASE WHEN {_u(60)} < 0.2 THEN alts[1] END AS MA,
           CASE WHEN {_u(60)} < 0.2 THEN CAST({_u(61)} * 0.5 AS FLOAT) END AS MAF,
           CASE WHEN {_u(60)} < 0.2 THEN CAST(1 + {_u(62)} * 5000 AS INTEGER) END AS MAC,
           CASE WHEN {_u(63)} < 0.6 THEN ref1 END AS AA
    FROM alleles
    """


def _planted(chrom: str) -> list[dict]:
    out = []
    for c, pos, rsid, ref, alt, info in lmfixture.DEMO_VARIANTS:
        if c != chrom:
            continue
        flags = set(info.split(";"))
        tsa = next((f[4:] for f in flags if f.startswith("TSA=")), None)
        out.append({"TSA": tsa, "chrom": c, "start": pos, "end": pos + len(ref) - 1, "id": rsid, "ref": ref,
                    "alt": alt.replace(",", "|"), "alts": alt.split(","),
                    **{f: f in flags for f in SOURCE_FLAGS + E_FLAGS + CLIN_FLAGS}})
    return out


def write_set(out_dir: Path, rows: int, files: int) -> dict:
    import duckdb
    import pyarrow as pa

    chroms = ["19", "21", "20", "22", "18", "17", "16", "15"][:files]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)
    for old in out_dir.glob("*.parquet"):
        old.unlink()
    con = duckdb.connect(config={"memory_limit": "2GB", "preserve_insertion_order": "true"})
    select = _select_synthetic()
    per_file = [rows // files + (1 if k < rows % files else 0) for k in range(files)]
    first = 0
    t0 = time.perf_counter()
    for chrom, n in zip(chroms, per_file):
        dest = out_dir / f"homo_sapiens-chr{chrom}.parquet"
        tmp = common.temp_path_for(dest)
        planted = _planted(chrom)
        con.execute("CREATE OR REPLACE TEMP TABLE synthetic AS " + select,
                    {"first": first, "n": n, "chrom": chrom})
        if planted:
            rel = con.sql("SELECT * FROM synthetic LIMIT 0").to_arrow_table()
            table = pa.Table.from_pylist(
                [{name: row.get(name) for name in rel.schema.names} for row in planted],
                schema=rel.schema)
            con.register("planted", table)
            con.execute("INSERT INTO synthetic SELECT * FROM planted")
            con.unregister("planted")
        try:
            con.execute("COPY (SELECT * FROM synthetic ORDER BY start) TO $path "
                        "(FORMAT parquet, COMPRESSION zstd)", {"path": str(tmp)})
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        common.say(f"{dest.name}: {n + len(planted):,} rows")
        first += n
    manifest = {"rows": rows + sum(len(_planted(c)) for c in chroms), "synthetic_rows": rows,
                "files": files, "seconds": round(time.perf_counter() - t0, 1),
                "bytes": sum(p.stat().st_size for p in out_dir.glob("*.parquet"))}
    common.atomic_write(out_dir / "manifest.json", (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest


@app.command()
def data(out_dir: Path = typer.Argument(..., help="Directory for the Parquet set"),
         rows: int = typer.Option(20_000_000, min=1, help="Synthetic rows in total"),
         files: int = typer.Option(4, min=1, max=8, help="Number of per-chromosome files")) -> None:
    """Write the synthetic Ensembl Parquet set (manifest.json last)."""
    manifest = write_set(out_dir, rows, files)
    common.say(f"{manifest['rows']:,} rows in {files} files, "
               f"{common.human_bytes(manifest['bytes'])}, {manifest['seconds']} s -> {out_dir}")


@app.command()
def run(data_dir: Path = typer.Argument(..., help="Directory written by `data`"),
        out: Path = typer.Argument(..., help="JSON result file")) -> None:
    """Time `modules.py build longevitymap` on the set; write the result to OUT."""
    manifest_path = data_dir / "manifest.json"
    if not manifest_path.exists():
        common.die(f"{manifest_path}: missing; run `lmbench.py data {data_dir}` first")
    manifest = json.loads(manifest_path.read_text())
    work = out.parent / "longevitymap-run"
    shutil.rmtree(work, ignore_errors=True)
    sqlite = lmfixture.build_sqlite(work / "curation.sqlite")
    cfg = common.load_config()
    env = {**os.environ, "CACHE_DIR": str(work / "cache"), "ENSEMBL_PARQUET": str(data_dir / "*.parquet")}
    script = common.ROOT / "scripts" / "modules.py"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script), "build", "longevitymap", "--source", str(sqlite)], env=env)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        common.die(f"modules.py build longevitymap failed (exit {proc.returncode}) on {data_dir}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    lm_dir = work / "cache" / "modules" / "longevitymap"
    import pyarrow.parquet as pq

    result = {
        "benchmark": "longevitymap",
        "ensembl_rows": manifest["rows"],
        "ensembl_files": manifest["files"],
        "ensembl_bytes": manifest["bytes"],
        "memory_limit": cfg["memory_limit"],
        "seconds": round(seconds, 2),
        "peak_rss_bytes": peak,
        "weights_rows": pq.read_metadata(lm_dir / "weights.parquet").num_rows,
        "cpu_count": os.cpu_count(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    common.atomic_write(out, (json.dumps(result, indent=1) + "\n").encode())
    print(f"longevitymap on {manifest['rows']:,} Ensembl rows ({manifest['files']} files, "
          f"{common.human_bytes(manifest['bytes'])}): {seconds:.1f} s, peak RSS "
          f"{common.human_bytes(peak)} (memory_limit {cfg['memory_limit']}) -> {out}")


if __name__ == "__main__":
    app()

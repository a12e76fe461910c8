"""The DuckDB core of the module steps: a connection bounded by memory_limit (spilling
to <cache>/tmp/duckdb), one SQL file of sql/ run with its parameters bound (never
pasted), and the outputs written to temporary names and renamed into place together.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import common
import outputs

SQL_DIR = common.ROOT / "sql"


def read_sql(name: str) -> str:
    path = SQL_DIR / f"{name}.sql"
    try:
        return path.read_text()
    except OSError as exc:
        raise common.Failure(f"{path}: cannot read ({exc.strerror or exc})") from None


def run_sql(con, name: str, params: dict):
    """Run sql/<name>.sql with the parameters it uses (bound, not pasted); Arrow result."""
    import duckdb

    text = read_sql(name)
    used = {p: params[p] for p in sorted(set(re.findall(r"\$([A-Za-z_]\w*)", text)))}
    try:
        return con.sql(text, params=used or None).to_arrow_table()
    except duckdb.Error as exc:
        raise common.Failure(f"sql/{name}.sql failed: {str(exc).splitlines()[0]}") from None


def connect(cfg: dict):
    import duckdb

    spill = Path(cfg["cache_dir"]) / "tmp" / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    config = {"memory_limit": str(cfg["memory_limit"]), "temp_directory": str(spill),
              "preserve_insertion_order": "false"}
    if int(cfg.get("threads") or 0) > 0:
        config["threads"] = str(int(cfg["threads"]))
    try:
        return duckdb.connect(config=config)
    except duckdb.Error as exc:
        raise common.Failure(f"cannot start DuckDB with memory_limit={cfg['memory_limit']!r} "
                             f"({str(exc).splitlines()[0]})") from None


def tsv_bytes(table) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow(["" if v is None else v for v in row.values()])
    return buf.getvalue().encode()


def write_outputs(out_dir: Path, results: dict) -> dict[Path, dict]:
    """Write every output to a temporary name, then commit them all into place (synced,
    renamed, outputs.commit). Returns {path: {"bytes", "sha256"}} for the step log."""
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    temps: dict[Path, Path] = {}
    try:
        for name, table in results.items():
            dest = out_dir / name
            tmp = common.temp_path_for(dest)
            temps[dest] = tmp
            outputs.remove_on_stop(tmp)
            if name.endswith(".parquet"):
                pq.write_table(table, tmp, compression="zstd")
            else:
                tmp.write_bytes(tsv_bytes(table))
        outputs.hold("module-commit")
        return {dest: outputs.commit(tmp, dest) for dest, tmp in temps.items()}
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)

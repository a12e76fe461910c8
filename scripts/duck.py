"""The DuckDB core of the module steps: a connection bounded by memory_limit (spilling
to <cache>/tmp/duckdb), one SQL file (sql/<name>.sql, or a module's own) run with its
parameters bound (never pasted), and the outputs written to temporary names and renamed
into place together.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import common
import config
import outputs



def sql_path(sql: str | Path) -> Path:
    """sql/<name>.sql for a name, else the path given."""
    return sql if isinstance(sql, Path) else config.SQL_DIR / f"{sql}.sql"


def run_sql(con, sql: str | Path, params: dict):
    """Run one SQL file (a name in sql/, or a path) with the parameters it uses (bound,
    not pasted); Arrow result. A parameter the file uses and ``params`` lacks is an error
    naming both."""
    import duckdb

    path = sql_path(sql)
    label = os.path.relpath(path, common.ROOT) if path.is_relative_to(common.ROOT) else str(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise common.Failure(f"{path}: cannot read ({exc.strerror or exc})") from None
    names = sorted(set(re.findall(r"\$([A-Za-z_]\w*)", text)))
    missing = [n for n in names if n not in params]
    if missing:
        raise common.Failure(f"{label} uses ${', $'.join(missing)}, which module.toml's [params] does not set")
    try:
        return con.sql(text, params={n: params[n] for n in names} or None).to_arrow_table()
    except duckdb.Error as exc:
        raise common.Failure(f"{label} failed: {str(exc).splitlines()[0]}") from None


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


def write_outputs(out_dir: Path, results: dict, finish=None, hold: str | None = None) -> dict[Path, dict]:
    """Write every output to a temporary name, then commit them all into place (synced,
    renamed, outputs.commit). A result is an Arrow table (.parquet, or TSV otherwise) or
    bytes. ``finish``, if given, is called with {name: temporary path} once those are
    written and returns more {name: bytes} (files made from the others, e.g. a manifest of
    their digests). ``hold``: a test hook's point (outputs.hold) once all are written under
    their temporary names. Returns {path: {"bytes", "sha256"}} for the step log."""
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    temps: dict[str, Path] = {}

    def write(name: str, value) -> None:
        tmp = common.temp_path_for(out_dir / name)
        temps[name] = tmp
        outputs.remove_on_stop(tmp)
        if isinstance(value, bytes):
            tmp.write_bytes(value)
        elif name.endswith(".parquet"):
            pq.write_table(value, tmp, compression="zstd")
        else:
            tmp.write_bytes(tsv_bytes(value))

    try:
        for name, value in results.items():
            write(name, value)
        for name, value in (finish(dict(temps)) if finish else {}).items():
            write(name, value)
        if hold:
            outputs.hold(hold)
        return {out_dir / name: outputs.commit(tmp, out_dir / name) for name, tmp in temps.items()}
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)

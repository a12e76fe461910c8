"""A module's source file: fetched (or copied), validated and loaded.

A SQLite source must start with SQLite's magic and hold the tables and columns module.toml
names; a TSV source must have a header with the columns it names. A fetch goes to a
temporary name, is checked, and only then renamed into place, so a failed or interrupted
fetch never leaves a finished-looking file. Loading reads the named columns into Arrow
(through Python's sqlite3: DuckDB's sqlite extension needs the internet), each table with a
`_row` column: the SQLite rowid, or the TSV's line number among its data rows.
"""

from __future__ import annotations

import csv
import re
import shutil
import sqlite3
from pathlib import Path

import common
import outputs
from common import Failure
from moduledef import LOGO_EXTENSIONS, Module

SQLITE_MAGIC = b"SQLite format 3\x00"


def check_sqlite(module: Module, path: Path, label: str) -> None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise Failure(f"{label}: cannot read ({exc.strerror or exc})") from None
    if head != SQLITE_MAGIC:
        raise Failure(f"{label}: not a SQLite file (the {module.name} source is a SQLite database)")
    try:
        con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            for table, columns in module.tables.items():
                have = {row[1] for row in con.execute(f"PRAGMA table_info('{table}')")}
                if not have:
                    raise Failure(f"{label}: table {table} is missing (not the {module.name} SQLite?)")
                missing = [c for c in columns if c not in have]
                if missing:
                    raise Failure(f"{label}: table {table} lacks column(s) {', '.join(missing)}")
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise Failure(f"{label}: unreadable SQLite ({exc})") from None


def tsv_header(path: Path, label: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            first = fh.readline()
    except UnicodeDecodeError:
        raise Failure(f"{label}: not a UTF-8 text file (the source is a TSV)") from None
    except OSError as exc:
        raise Failure(f"{label}: cannot read ({exc.strerror or exc})") from None
    return [c.strip() for c in first.rstrip("\r\n").split("\t")] if first else []


def check_tsv(module: Module, path: Path, label: str) -> None:
    header = tsv_header(path, label)
    (table, columns), = module.tables.items()
    missing = [c for c in columns if c not in header]
    if not header or header == [""]:
        raise Failure(f"{label}: empty file (the {module.name} source is a TSV with a header line)")
    if missing:
        shown = ", ".join(header[:4]) + (" ..." if len(header) > 4 else "")
        raise Failure(f"{label}: not the expected TSV: its header lacks {', '.join(repr(c) for c in missing)} "
                      f"(it has {shown})")


def check(module: Module, path: Path, label: str | None = None) -> None:
    """Failure naming ``label`` (default: the path) unless ``path`` is the module's source."""
    label = label or str(path)
    (check_sqlite if module.source["kind"] == "sqlite" else check_tsv)(module, path, label)


def load(module: Module, path: Path) -> dict:
    """{table: Arrow table} of the named columns, text columns read as text, plus `_row`."""
    check(module, path)
    return (_load_sqlite if module.source["kind"] == "sqlite" else _load_tsv)(module, path)


def _arrays(module: Module, path: Path, table: str, rows: list) -> dict:
    """The Arrow columns of ``table``'s rows: _row, then the columns module.toml names."""
    import pyarrow as pa

    columns = {"_row": "int64", **module.tables[table]}
    arrays = {}
    for i, (name, typ) in enumerate(columns.items()):
        try:
            arrays[name] = pa.array([r[i] for r in rows], type=getattr(pa, typ)())
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError, ValueError) as exc:
            raise Failure(f"{path}: column {table}.{name} holds a value that is not {typ} ({exc})") from None
    return arrays


def _load_sqlite(module: Module, path: Path) -> dict:
    import pyarrow as pa

    tables = {}
    con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        for table, columns in module.tables.items():
            select = ", ".join(f'CAST("{c}" AS TEXT)' if t == "string" else f'"{c}"' for c, t in columns.items())
            rows = con.execute(f'SELECT rowid, {select} FROM "{table}" ORDER BY rowid').fetchall()
            tables[table] = pa.table(_arrays(module, path, table, rows))
    except sqlite3.DatabaseError as exc:
        raise Failure(f"{path}: unreadable SQLite ({exc})") from None
    finally:
        con.close()
    return tables


def _load_tsv(module: Module, path: Path) -> dict:
    import pyarrow as pa

    (table, columns), = module.tables.items()
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = [c.strip() for c in next(reader, [])]
        index = [header.index(c) for c in columns]
        rows = []
        for number, line in enumerate(reader, 1):
            if not line or line == [""]:
                continue
            values = [(line[i] if i < len(line) else "") for i in index]
            rows.append([number, *[(v if v != "" else None) for v in values]])
    for name, typ in columns.items():
        if typ != "string":  # typed TSV columns: cast here, naming the line that fails
            i = list(columns).index(name) + 1
            for r in rows:
                try:
                    r[i] = None if r[i] is None else (int(r[i]) if typ == "int64" else float(r[i]))
                except ValueError:
                    raise Failure(f"{path}: line {r[0] + 1} column {name!r} holds {r[i]!r}, not {typ}") from None
    return {table: pa.table(_arrays(module, path, table, rows))}


# --- fetching -------------------------------------------------------------------------------

def local_files(source: str) -> list[Path]:
    """The file a source or logo setting names when it is a local path (its data), else []."""
    if "://" in source and not source.startswith("file://"):
        return []
    return [Path(source.removeprefix("file://")).expanduser()]


def fetch_to(source: str, dest: Path, cfg: dict, check_fn, what: str) -> dict:
    """Fetch ``source`` (an http(s) URL, resumable, see fetch.py) or copy it (a local path or
    file:// URL) to ``dest``: through a temporary sibling (removed by a stop), checked by
    ``check_fn(tmp, label)``, then committed (synced, renamed: outputs.commit). Returns what
    the step log records (bytes, sha256, and the transfer's)."""
    tmp = common.temp_path_for(dest)
    outputs.remove_on_stop(tmp, *(tmp.with_name(tmp.name + ext) for ext in (".part", ".part.json")))
    record: dict = {}
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        if re.match(r"https?://", source):
            import fetch as fetcher

            try:  # resumes within this run (retries); a failed run leaves no partial file
                record.update(fetcher.fetch_url(source, tmp, cfg))
            finally:
                fetcher.Transfer(source, tmp, cfg, None).discard()
        elif not (local := local_files(source)):
            raise Failure(f"{source}: unsupported URL scheme for the {what} (http, https or a local path)")
        else:
            if not local[0].is_file():
                raise Failure(f"{local[0]}: no such file ({what})")
            shutil.copyfile(local[0], tmp)
        check_fn(tmp, source)
        record.update(outputs.commit(tmp, dest))
    finally:
        tmp.unlink(missing_ok=True)
    return record


def check_logo(path: Path, label: str) -> None:
    """A logo is a PNG or a JPEG (what the consumer shows), by its first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if not (head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff")):
        raise Failure(f"{label}: not a PNG or JPEG image (a module logo is published as logo.png/.jpg)")


def logo_extension(setting: str) -> str:
    """png, jpg or jpeg from a logo URL or path; Failure for anything else."""
    ext = Path(setting.split("?", 1)[0]).suffix.lower().lstrip(".")
    if ext not in LOGO_EXTENSIONS:
        raise Failure(f"{setting}: a module logo must be a .png, .jpg or .jpeg file or URL")
    return ext

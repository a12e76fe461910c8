"""LongevityMap module: curated SQLite + Ensembl Parquet set -> module tables.

    python scripts/longevitymap.py fetch    # longevitymap_url -> <cache>/modules/longevitymap/longevitymap.sqlite
    python scripts/longevitymap.py inputs   # file list, curator, method -> inputs.txt (only when changed)
    python scripts/longevitymap.py build    # -> annotations/studies/weights.parquet, unresolved.tsv, conflicts.tsv
    python scripts/longevitymap.py hits F O # one Ensembl Parquet file's records of the curated rsids -> O

`fetch` downloads the curation (resumable, see fetch.py) or copies it when
longevitymap_url is a local path, checks that it is a LongevityMap SQLite, and only
then renames it into place. `inputs` lets Make notice a changed Ensembl file list,
curator or method: it rewrites inputs.txt only when its content changes. `hits` is
the map step: the records of the curated rsids in one Parquet file, with the columns
the module reads under their own names (a small file; `build` given hits files makes
the same tables as given the whole set). `build`
loads the SQLite tables into DuckDB (through Python's sqlite3 and Arrow: DuckDB's
sqlite extension needs the internet), runs the SQL files in sql/ in order (curated,
ensembl_hits, candidates, then one file per output), memory-bounded (memory_limit,
spilling to <cache>/tmp/duckdb), and writes every output through a temporary name;
on failure no output is left behind.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

import typer

import common
import outputs
from duck import connect, run_sql, write_outputs
from ensembl_set import HITS_ROWS_KEY, HITS_SOURCE_KEY, REQUIRED, ensembl_files, ensembl_rows, ensembl_view, \
    module_columns

MODULE = "longevitymap"
PHENOTYPE = "longevity"
SQLITE_MAGIC = b"SQLite format 3\x00"

# Tables and columns read from the SQLite, with the Arrow type each is loaded as.
TABLES: dict[str, dict[str, str]] = {
    "allele_weights": {"id": "int64", "allele": "string", "state": "string",
                       "zygosity": "string", "weight": "float64", "rsid": "string",
                       "priority": "string", "category_id": "int64"},
    "categories": {"id": "int64", "name": "string"},
    "variant": {"id": "int64", "study_design": "string", "conclusions": "string",
                "association": "string", "quickyear": "int64", "quickpubmed": "string",
                "identifier": "string", "gene_id": "int64", "population_id": "int64"},
    "population": {"id": "int64", "name": "string"},
    "gene": {"id": "int64", "symbol": "string"},
}
# Staged SQL files, run in order; each result is registered under the file's name.
STAGES = ("curated", "ensembl_hits", "candidates")
OUTPUTS = {  # output file -> SQL file
    "annotations.parquet": "annotations",
    "studies.parquet": "studies",
    "weights.parquet": "weights",
    "unresolved.tsv": "unresolved",
    "conflicts.tsv": "conflicts",
}

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


def module_dir(cfg: dict) -> Path:
    return Path(cfg["cache_dir"]) / "modules" / MODULE


def sqlite_path(cfg: dict) -> Path:
    return module_dir(cfg) / "longevitymap.sqlite"


def inputs_path(cfg: dict) -> Path:
    return module_dir(cfg) / "inputs.txt"


def inputs_text(cfg: dict, files: list[str]) -> str:
    """What the tables depend on besides file contents: the Ensembl file list and the
    parameters bound into the SQL. Make rebuilds the tables when this text changes."""
    lines = ["# Inputs of the LongevityMap tables (written by `longevitymap.py inputs`; a change",
             "# here makes `make longevitymap` rebuild them).",
             f"module = {MODULE}", f"phenotype = {PHENOTYPE}",
             f"curator = {cfg['curator']}", f"method = {cfg['method']}"]
    lines += [f"ensembl = {os.path.abspath(f)}" for f in files]
    return "\n".join(lines) + "\n"


# --- the curated SQLite ---------------------------------------------------------------

def check_sqlite(path: Path, label: str | None = None) -> None:
    """Raise Failure unless ``path`` is a SQLite file holding the tables and columns used;
    messages name ``label`` (default: the path)."""
    label = label or str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise common.Failure(f"{label}: cannot read ({exc.strerror or exc})") from None
    if head != SQLITE_MAGIC:
        raise common.Failure(f"{label}: not a SQLite file")
    try:
        con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            for table, columns in TABLES.items():
                have = {row[1] for row in con.execute(f"PRAGMA table_info('{table}')")}
                if not have:
                    raise common.Failure(f"{label}: table {table} is missing (not a LongevityMap SQLite?)")
                missing = [c for c in columns if c not in have]
                if missing:
                    raise common.Failure(f"{label}: table {table} lacks column(s) {', '.join(missing)}")
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise common.Failure(f"{label}: unreadable SQLite ({exc})") from None


def load_tables(path: Path) -> dict:
    """The needed columns of each table, as Arrow tables (text columns read as text)."""
    import pyarrow as pa

    check_sqlite(path)
    tables = {}
    con = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        for table, columns in TABLES.items():
            select = ", ".join(f'CAST("{c}" AS TEXT)' if t == "string" else f'"{c}"'
                               for c, t in columns.items())
            rows = con.execute(f'SELECT {select} FROM "{table}"').fetchall()
            arrays = {}
            for i, (name, typ) in enumerate(columns.items()):
                try:
                    arrays[name] = pa.array([r[i] for r in rows], type=getattr(pa, typ)())
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
                    raise common.Failure(f"{path}: column {table}.{name} holds a value that is "
                                         f"not {typ} ({exc})") from None
            tables[table] = pa.table(arrays)
    except sqlite3.DatabaseError as exc:
        raise common.Failure(f"{path}: unreadable SQLite ({exc})") from None
    finally:
        con.close()
    return tables


def make_hits(cfg: dict, sqlite: Path, source: str):
    """The map step: ``source``'s records of the curated rsids (Arrow table with footer
    metadata naming the source and its row count)."""
    import duckdb
    import pyarrow.parquet as pq

    tables = load_tables(sqlite)
    con = connect(cfg)
    try:
        try:
            rel = con.read_parquet(source)
        except duckdb.Error as exc:
            raise common.Failure(f"{source}: cannot read the Ensembl Parquet file "
                                 f"({str(exc).splitlines()[0]})") from None
        missing = [c for c in REQUIRED if c not in rel.columns]
        if missing:
            raise common.Failure(f"{source}: lacks column(s) {', '.join(missing)} (needs {', '.join(REQUIRED)})")
        # Column names pasted here are fixed strings or matched the strict patterns above.
        rel.project(", ".join(f'"{c}"' for c in module_columns(rel.columns))).create_view("source")
        for name, table in tables.items():
            con.register(name, table)
        params = {"module": MODULE, "phenotype": PHENOTYPE,
                  "curator": str(cfg["curator"]), "method": str(cfg["method"])}
        con.register("curated", run_sql(con, "curated", params))
        hits = run_sql(con, "lm_hits", params)
    except duckdb.Error as exc:
        raise common.Failure(f"DuckDB failed on {source}: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    rows = pq.read_metadata(source).num_rows
    return hits.replace_schema_metadata({HITS_SOURCE_KEY: os.path.basename(source).encode(),
                                         HITS_ROWS_KEY: str(rows).encode()}), rows


def build_tables(cfg: dict, sqlite: Path, files: list[str]) -> tuple[dict, dict]:
    """Run the SQL; return ({output file name: Arrow table}, facts)."""
    import duckdb

    tables = load_tables(sqlite)
    con = connect(cfg)
    try:
        for name, table in tables.items():
            con.register(name, table)
        facts = ensembl_view(con, files)
        params = {"module": MODULE, "phenotype": PHENOTYPE,
                  "curator": str(cfg["curator"]), "method": str(cfg["method"])}
        for stage in STAGES:
            con.register(stage, run_sql(con, stage, params))
        results = {out: run_sql(con, sql, params) for out, sql in OUTPUTS.items()}
        curated = con.execute("SELECT count(*), count(DISTINCT rsid) FROM curated").fetchone()
        facts.update(curated_rows=curated[0], curated_rsids=curated[1],
                     ensembl_hits=con.execute("SELECT count(*) FROM ensembl_hits").fetchone()[0])
        resolved = con.execute("SELECT count(*) FROM candidates "
                               "WHERE genotype IS NOT NULL AND NOT conflict").fetchone()[0]
        facts["merged_rows"] = resolved - results["weights.parquet"].num_rows
        # Curated rows that gave a weights row or merged into one (the rest are in unresolved.tsv).
        facts["published_ids"] = [r[0] for r in con.execute(
            "SELECT DISTINCT curated_id FROM candidates WHERE genotype IS NOT NULL AND NOT conflict "
            "ORDER BY curated_id").fetchall()]
    except duckdb.Error as exc:
        raise common.Failure(f"DuckDB failed while building the module: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
    return results, facts


def remove_outputs(out_dir: Path) -> None:
    for name in OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)


def summary(results: dict, facts: dict, seconds: float) -> str:
    from collections import Counter

    reasons = Counter(results["unresolved.tsv"].column("reason").to_pylist())
    clashes = Counter(results["conflicts.tsv"].column("reason").to_pylist())
    lines = [f"{MODULE}: {facts['curated_rows']} curated rows ({facts['curated_rsids']} rsids) "
             f"against {facts['ensembl_rows']:,} Ensembl rows in {facts['ensembl_files']} file(s) "
             f"({facts['ensembl_hits']} records of curated rsids) in {seconds:.1f} s"]
    for name, table in results.items():
        lines.append(f"  {name:<20} {table.num_rows:>7} rows")
    lines.append(f"  curated rows published (in weights, or merged into a weights row): "
                 f"{len(facts['published_ids'])}; in unresolved.tsv: {results['unresolved.tsv'].num_rows}")
    if reasons:
        lines.append("  unresolved by reason: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()))
    if clashes:
        lines.append("  conflicts.tsv rows by reason: " + ", ".join(f"{r} {n}" for r, n in clashes.most_common()))
    lines.append(f"  genotype rows merged (same genotype and weight from several curated rows): "
                 f"{facts['merged_rows']}")
    return "\n".join(lines)


# --- commands ---------------------------------------------------------------------------

def local_source(source: str) -> list[Path]:
    """The curation file when longevitymap_url is a local path (a Make prerequisite), else []."""
    if "://" in source and not source.startswith("file://"):
        return []
    return [Path(source.removeprefix("file://")).expanduser()]


@app.command()
def fetch(source: str = typer.Option(None, help="URL or local path (default: config longevitymap_url)")) -> None:
    """Fetch (or copy) the curated SQLite into <cache>/modules/longevitymap/."""
    cfg = common.load_config()
    source = source or str(cfg["longevitymap_url"])
    dest = sqlite_path(cfg)
    tmp = common.temp_path_for(dest)
    log = module_dir(cfg) / "steps.jsonl"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with common.exit_on_failure(dest), \
                outputs.guarded(cfg, dest, f"{dest}: interrupted; nothing fetched",
                                inputs=local_source(source)) as made:
            if made:
                common.say(f"{dest.name}: made meanwhile by another process; nothing to do")
                return
            outputs.remove_on_stop(tmp, *(tmp.with_name(tmp.name + ext) for ext in (".part", ".part.json")))
            with common.step(log, "longevitymap-fetch", dest) as rec:
                rec["source"] = source
                if re.match(r"https?://", source):
                    import fetch as fetcher

                    try:  # resumes within this run (retries); a failed run leaves no partial file
                        rec.update(fetcher.fetch_url(source, tmp, cfg))
                    finally:
                        fetcher.Transfer(source, tmp, cfg, None).discard()
                elif "://" in source and not source.startswith("file://"):
                    raise common.Failure(f"{source}: unsupported URL scheme (http, https or a local path)")
                else:
                    local = Path(source.removeprefix("file://")).expanduser()
                    if not local.is_file():
                        raise common.Failure(f"{local}: no such file (longevitymap_url)")
                    shutil.copyfile(local, tmp)
                check_sqlite(tmp, label=source)
                digest = outputs.commit(tmp, dest)
                rec.update(bytes=digest["bytes"], written=outputs.written(log, {dest: digest}))
    finally:
        tmp.unlink(missing_ok=True)
    common.say(f"{dest}: {common.human_bytes(dest.stat().st_size)} from {source}")


def resolve_files(cfg: dict, files: list[Path] | None, ensembl: str | None, check: bool = True) -> list[str]:
    """The Ensembl Parquet set: ``files`` when given (Make passes the ones it tracks),
    else ``ensembl`` / config ensembl_parquet / the species' files."""
    if not files:
        return ensembl_files(cfg, ensembl)
    if check:
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise common.Failure(f"{missing[0]}: no such Ensembl Parquet file")
    return [str(f) for f in files]


@app.command()
def inputs(
    files: list[Path] = typer.Argument(None, help="Ensembl Parquet files (Make passes the set it tracks; "
                                                  "they need not exist yet)"),
    ensembl: str = typer.Option(None, help="Ensembl Parquet path, directory or glob, when no FILES are given"),
) -> None:
    """Record the Ensembl file list, curator, method and module parameters in
    <cache>/modules/longevitymap/inputs.txt, rewriting it only when they changed."""
    cfg = common.load_config()
    path = inputs_path(cfg)
    with common.exit_on_failure(path):
        text = inputs_text(cfg, resolve_files(cfg, files, ensembl, check=False))
        existed = path.exists()
        if common.atomic_write(path, text.encode(), only_if_changed=True):
            common.say(f"{path}: {'changed' if existed else 'written'}; the tables will be rebuilt")


@app.command()
def build(
    files: list[Path] = typer.Argument(None, help="Ensembl Parquet files (Make passes the set it tracks)"),
    sqlite: Path = typer.Option(None, help="Curated SQLite (default: <cache>/modules/longevitymap/longevitymap.sqlite)"),
    ensembl: str = typer.Option(None, help="Ensembl Parquet path, directory or glob, when no FILES are given "
                                           "(default: config ensembl_parquet, else the species' Parquet files)"),
) -> None:
    """Build annotations/studies/weights.parquet, unresolved.tsv and conflicts.tsv."""
    cfg = common.load_config()
    out_dir = module_dir(cfg)
    sqlite = sqlite or sqlite_path(cfg)
    log = out_dir / "steps.jsonl"
    files_out = [out_dir / name for name in OUTPUTS]
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with outputs.guarded(cfg, out_dir, f"{MODULE}: interrupted; no table written (earlier ones removed)",
                             files_out, inputs=[sqlite, inputs_path(cfg), *(files or [])]) as made:
            if made:
                common.say(f"{MODULE}: the tables were made meanwhile by another process; nothing to do")
                return
            outputs.call_on_stop(lambda: remove_outputs(out_dir))
            t0 = time.perf_counter()
            with common.step(log, "longevitymap", out_dir) as rec:
                if not sqlite.exists():
                    raise common.Failure(f"{sqlite}: missing; run `make longevitymap` "
                                         "(or `longevitymap.py fetch`) first")
                paths = resolve_files(cfg, files, ensembl)
                results, facts = build_tables(cfg, sqlite, paths)
                facts["ensembl_rows"] = ensembl_rows(paths)
                outputs.hold("module-build")
                digests = write_outputs(out_dir, results)
                rec.update({k: v for k, v in facts.items() if k != "published_ids"},
                           published_curated_rows=len(facts["published_ids"]))
                rec.update({name.split(".")[0] + "_rows": t.num_rows for name, t in results.items()})
                rec["written"] = outputs.written(log, digests)
    except BaseException as exc:  # noqa: BLE001 - whatever the cause, no output is left
        remove_outputs(out_dir)
        if isinstance(exc, common.Failure):
            common.die(str(exc))
        if isinstance(exc, OSError):
            common.die(f"{exc.filename or out_dir}: {exc.strerror or exc}")
        raise
    print(summary(results, facts, time.perf_counter() - t0))


@app.command()
def hits(
    source: Path = typer.Argument(..., help="One Ensembl Parquet file"),
    dest: Path = typer.Argument(..., help="The hits file to write (<stem>.lm-hits.parquet)"),
    sqlite: Path = typer.Option(None, help="Curated SQLite (default: <cache>/modules/longevitymap/longevitymap.sqlite)"),
) -> None:
    """The map step: write SOURCE's records of the curated rsids to DEST (small; `build`
    given the hits files of a set makes the same tables as given the set)."""
    import pyarrow.parquet as pq

    cfg = common.load_config()
    sqlite = sqlite or sqlite_path(cfg)
    tmp = common.temp_path_for(dest)
    log = module_dir(cfg) / "steps.jsonl"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with common.exit_on_failure(dest), \
                outputs.guarded(cfg, dest, f"{dest}: interrupted; no hits file written",
                                inputs=[source, sqlite]) as made:
            if made:
                common.say(f"{dest.name}: made meanwhile by another process; nothing to do")
                return
            outputs.remove_on_stop(tmp)
            with common.step(log, "longevitymap-hits", dest) as rec:
                if not sqlite.exists():
                    raise common.Failure(f"{sqlite}: missing; run `make {sqlite}` "
                                         "(or `longevitymap.py fetch`) first")
                if not source.is_file():
                    raise common.Failure(f"{source}: no such Ensembl Parquet file")
                table, rows = make_hits(cfg, sqlite, str(source))
                outputs.hold("hits-write")
                pq.write_table(table, tmp, compression="zstd")
                digest = outputs.commit(tmp, dest)
                rec.update(rows=rows, hits=table.num_rows, bytes=digest["bytes"],
                           written=outputs.written(log, {dest: digest}))
    finally:
        tmp.unlink(missing_ok=True)
    common.say(f"{dest}: {table.num_rows} record(s) of curated rsids in {rows:,} rows of {source.name}")


if __name__ == "__main__":
    app()

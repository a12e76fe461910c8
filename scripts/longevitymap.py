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

import csv
import glob
import io
import os
import re
import shutil
import sqlite3
import time
from pathlib import Path

import typer

import common

MODULE = "longevitymap"
PHENOTYPE = "longevity"
SQL_DIR = common.ROOT / "sql"
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
# Ensembl columns: required ones, and the flags copied into weights (NULL when absent).
REQUIRED = ("chrom", "start", "end", "id", "ref", "alts")
CLIN_FLAGS = {"pathogenic": "CLIN_pathogenic", "benign": "CLIN_benign",
              "likely_pathogenic": "CLIN_likely_pathogenic", "likely_benign": "CLIN_likely_benign"}
CLINVAR_FLAG = re.compile(r"ClinVar_[0-9]{6}")  # the release's ClinVar source flag
# clin_sig: one tier of the consumer's clinical-significance vocabulary (just-dna-format's
# VALID_CLIN_SIG, VEP CLIN_SIG terms), from every CLIN_<term> flag of the record, found by
# this pattern (the set differs by release). Terms map as just-dna-enricher's ClinVar
# normaliser maps them (anything else -> "other"); when several flags are set the most
# consequential tier wins, in the enricher's order.
CLIN_FLAG = re.compile(r"CLIN_[A-Za-z0-9_]+")
CLIN_SIG_MAP = {
    "pathogenic_low_penetrance": "pathogenic",
    "likely_pathogenic_low_penetrance": "likely_pathogenic",
    "uncertain_risk_allele": "uncertain_significance",
    "association_not_found": "other",
    "established_risk_allele": "risk_factor",
    "likely_risk_allele": "risk_factor",
    "conflicting_classifications_of_pathogenicity": "conflicting",
    "conflicting_interpretations_of_pathogenicity": "conflicting",
    "no_classification_provided": "not_provided",
    "no_classification_for_the_single_variant": "not_provided",
    "no_classifications_from_unflagged_records": "not_provided",
    "no_assertion_provided": "not_provided",
    "confers_sensitivity": "other",
    "low_penetrance": "other",
}
CLIN_SIG_ORDER = ("pathogenic", "likely_pathogenic", "drug_response", "risk_factor", "affects",
                  "association", "protective", "conflicting", "uncertain_significance",
                  "likely_benign", "benign", "not_provided", "other")


def clin_sig_tier(flag: str) -> str:
    """CLIN_risk_factor -> risk_factor; a term outside the vocabulary -> its mapping or other."""
    term = flag.removeprefix("CLIN_").lower()
    term = CLIN_SIG_MAP.get(term, term)
    return term if term in CLIN_SIG_ORDER else "other"


def clin_sig_sql(flags: list[str]) -> str:
    """A DuckDB expression: the clin_sig tier of a row from its CLIN_* flag columns
    (names that matched CLIN_FLAG), NULL when none is set."""
    by_tier: dict[str, list[str]] = {}
    for flag in sorted(flags):
        by_tier.setdefault(clin_sig_tier(flag), []).append(flag)
    cases = []
    for tier in CLIN_SIG_ORDER:
        if tier in by_tier:
            any_set = " OR ".join(f'coalesce("{f}", false)' for f in by_tier[tier])
            cases.append(f"WHEN {any_set} THEN '{tier}'")
    return f"CASE {' '.join(cases)} END" if cases else "CAST(NULL AS VARCHAR)"
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


# --- the Ensembl Parquet set -----------------------------------------------------------

def ensembl_files(cfg: dict, source: str | None = None) -> list[str]:
    """The Ensembl Parquet files: ``source`` or config ensembl_parquet (a file, a
    directory of *.parquet, or a glob), else the species' own set: the Parquet targets
    of the discovery manifest (common.parquet_set), all of them present and not older
    than their VCF; other *.parquet files in the species directory are not read."""
    source = source or str(cfg["ensembl_parquet"] or "")
    if not source:
        hint = "run `make parquet` or point ENSEMBL_PARQUET (config ensembl_parquet) at the set"
        try:
            found = common.parquet_set(cfg)
        except common.Failure as exc:
            raise common.Failure(f"{exc}; or point ENSEMBL_PARQUET (config ensembl_parquet) at the set") from None
        if found.not_ready or not found.entries:
            raise common.Failure(f"{found.problem()}; {hint}" if found.entries else
                                 f"{common.urls_json(cfg)} lists no files; {hint}")
        return sorted(str(e.parquet) for e in found.ready)
    source = os.path.expanduser(source)
    pattern = os.path.join(source, "*.parquet") if os.path.isdir(source) else source
    files = sorted(f for f in glob.glob(pattern) if os.path.isfile(f))
    if not files:
        raise common.Failure(f"no Ensembl Parquet file matches {pattern}; run `make parquet` or point "
                             "ENSEMBL_PARQUET (config ensembl_parquet) at the set")
    return files


def ensembl_view(con, files: list[str]) -> dict:
    """Register the view `ensembl` over ``files`` with the columns the SQL reads under
    fixed names. The ClinVar flag is found by pattern (its name changes each release).
    A flag column present in any file of the set is false where it is NULL (or absent
    from a file); a flag absent from the whole set is NULL. Returns facts about the set."""
    import duckdb

    label = files[0] if len(files) == 1 else f"{os.path.dirname(files[0])} ({len(files)} files)"
    try:
        rel = con.read_parquet(files, union_by_name=True)
        types = dict(zip(rel.columns, (str(t) for t in rel.types)))
    except duckdb.Error as exc:
        raise common.Failure(f"{label}: cannot read the Ensembl Parquet set "
                             f"({str(exc).splitlines()[0]})") from None
    missing = [c for c in REQUIRED if c not in types]
    if missing:
        raise common.Failure(f"{label}: the Ensembl Parquet set lacks column(s) "
                             f"{', '.join(missing)} (needs {', '.join(REQUIRED)})")
    if not types["alts"].endswith("[]"):
        raise common.Failure(f"{label}: column alts is {types['alts']}, not a list of alleles")
    clinvar = sorted(c for c in types if CLINVAR_FLAG.fullmatch(c))
    project = ['chrom', 'start', '"end"', 'id', 'ref', 'alts']
    # Column names pasted below are fixed strings or matched the strict pattern above.
    project.append("(" + " OR ".join(f'coalesce("{c}", false)' for c in clinvar) + ") AS clinvar"
                   if clinvar else "CAST(NULL AS BOOLEAN) AS clinvar")
    for alias, column in CLIN_FLAGS.items():
        project.append(f'coalesce("{column}", false) AS {alias}' if column in types
                       else f"CAST(NULL AS BOOLEAN) AS {alias}")
    clin = [c for c in types if CLIN_FLAG.fullmatch(c) and types[c] == "BOOLEAN"]
    project.append(f"{clin_sig_sql(clin)} AS clin_sig")
    rel.project(", ".join(project)).create_view("ensembl")
    if not clinvar:
        common.say(f"warning: {label} has no ClinVar_<YYYYMM> flag column; clinvar will be empty")
    absent = [c for c in CLIN_FLAGS.values() if c not in types]
    if absent:
        common.say(f"warning: {label} has no {', '.join(absent)} column(s); left empty")
    return {"ensembl_files": len(files), "clinvar_flag": ",".join(clinvar) or None,
            "clin_flags": len(clin)}


HITS_ROWS_KEY = b"lm_hits_source_rows"  # footer key of a hits file: rows of the file it was made from
HITS_SOURCE_KEY = b"lm_hits_source"


def ensembl_rows(files: list[str]) -> int:
    """Rows of the Ensembl set: of the source file for a hits file, else of the file."""
    import pyarrow.parquet as pq

    total = 0
    for f in files:
        meta = pq.read_metadata(f)
        kv = meta.metadata or {}
        total += int(kv[HITS_ROWS_KEY]) if HITS_ROWS_KEY in kv else meta.num_rows
    return total


def module_columns(names: list[str]) -> list[str]:
    """The columns of an Ensembl file the module reads: the required ones, the ClinVar
    source flag(s) and the CLIN_* flags, in the file's order."""
    return [c for c in names if c in REQUIRED or CLINVAR_FLAG.fullmatch(c) or c.startswith("CLIN_")]


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


# --- running the SQL --------------------------------------------------------------------

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


def write_outputs(out_dir: Path, results: dict) -> None:
    """Write every output to a temporary name, then rename them all into place."""
    import pyarrow.parquet as pq

    out_dir.mkdir(parents=True, exist_ok=True)
    temps: dict[Path, Path] = {}
    try:
        for name, table in results.items():
            dest = out_dir / name
            tmp = common.temp_path_for(dest)
            temps[dest] = tmp
            if name.endswith(".parquet"):
                pq.write_table(table, tmp, compression="zstd")
            else:
                tmp.write_bytes(tsv_bytes(table))
        for dest, tmp in temps.items():
            os.replace(tmp, dest)
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


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

@app.command()
def fetch(source: str = typer.Option(None, help="URL or local path (default: config longevitymap_url)")) -> None:
    """Fetch (or copy) the curated SQLite into <cache>/modules/longevitymap/."""
    cfg = common.load_config()
    source = source or str(cfg["longevitymap_url"])
    dest = sqlite_path(cfg)
    tmp = common.temp_path_for(dest)
    try:
        with common.exit_on_failure(dest), \
                common.step(module_dir(cfg) / "steps.jsonl", "longevitymap-fetch", dest) as rec:
            rec["source"] = source
            dest.parent.mkdir(parents=True, exist_ok=True)
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
            os.replace(tmp, dest)
            rec["bytes"] = dest.stat().st_size
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
    t0 = time.perf_counter()
    try:
        with common.step(out_dir / "steps.jsonl", "longevitymap", out_dir) as rec:
            if not sqlite.exists():
                raise common.Failure(f"{sqlite}: missing; run `make longevitymap` "
                                     "(or `longevitymap.py fetch`) first")
            paths = resolve_files(cfg, files, ensembl)
            results, facts = build_tables(cfg, sqlite, paths)
            facts["ensembl_rows"] = ensembl_rows(paths)
            write_outputs(out_dir, results)
            rec.update({k: v for k, v in facts.items() if k != "published_ids"},
                       published_curated_rows=len(facts["published_ids"]))
            rec.update({name.split(".")[0] + "_rows": t.num_rows for name, t in results.items()})
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
    try:
        with common.exit_on_failure(dest), \
                common.step(module_dir(cfg) / "steps.jsonl", "longevitymap-hits", dest) as rec:
            if not sqlite.exists():
                raise common.Failure(f"{sqlite}: missing; run `make {sqlite}` "
                                     "(or `longevitymap.py fetch`) first")
            if not source.is_file():
                raise common.Failure(f"{source}: no such Ensembl Parquet file")
            table, rows = make_hits(cfg, sqlite, str(source))
            dest.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, dest)
            rec.update(rows=rows, hits=table.num_rows, bytes=dest.stat().st_size)
    finally:
        tmp.unlink(missing_ok=True)
    common.say(f"{dest}: {table.num_rows} record(s) of curated rsids in {rows:,} rows of {source.name}")


if __name__ == "__main__":
    app()

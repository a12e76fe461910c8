"""The module steps in DuckDB, the same for every module.

claims(): the module's source tables, its curated.sql, then sql/claims.sql: one checked
row per curated claim. make_hits() (the map step): one Ensembl Parquet file's records of
the curated rsids of every module of the set. build_tables() (the reduce): the claims
against the Ensembl records (a Parquet set, or the hits files that stand for it) through
sql/ensembl_hits.sql and sql/candidates.sql, then one SQL file per output (the module's
annotations.sql and studies.sql, the shared weights, unresolved, conflicts and sources),
then the checks. Memory is bounded by memory_limit (spilling to <cache>/tmp/duckdb).
"""

from __future__ import annotations

import os
from pathlib import Path

import modsource
from common import Failure
from duck import connect, run_sql
from ensembl_set import HITS_MODULES_KEY, HITS_ROWS_KEY, HITS_SOURCE_KEY, REQUIRED, ensembl_view, module_columns
from moduledef import Module

# The consumer's vocabulary for weights.state: the weight's sign for weighted modules, the
# significance for drugs (just-dna-format VALID_STATES and VALID_SIGNIFICANCE).
STATES = ("protective", "risk", "neutral", "significant", "not_significant")
COLUMNS = {  # the columns each published table must have, in this order
    "annotations.parquet": ("rsid", "module", "gene", "phenotype", "category"),
    "studies.parquet": ("rsid", "module", "pmid", "population", "p_value", "conclusion", "study_design"),
    "weights.parquet": ("rsid", "genotype", "module", "weight", "state", "priority", "conclusion", "curator",
                        "method", "chrom", "start", "end", "ref", "alts", "clinvar", "pathogenic", "benign",
                        "likely_pathogenic", "likely_benign", "clin_sig"),
}


def duck_failure(exc: Exception, what: str) -> Failure:
    return Failure(f"DuckDB failed {what}: {str(exc).splitlines()[0]}")


def claims(con, module: Module, cfg: dict, source: Path) -> None:
    """Register the module's source tables, `curated` (its curated.sql) and `claims`."""
    for name, table in modsource.load(module, source).items():
        con.register(name, table)
    params = module.params(cfg)
    con.register("curated", run_sql(con, module.sql("curated"), params))
    con.register("claims", run_sql(con, module.sql("claims"), params))


def make_hits(cfg: dict, sources: list[tuple[Module, Path]], parquet: str):
    """The map step: ``parquet``'s records of the curated rsids of every module in
    ``sources`` ((module, source file) pairs), with the columns the modules read under their
    own names, and the footer naming the source file, its rows and the modules. Returns
    (Arrow table, rows of the source file)."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    rsids: set[str] = set()
    for module, path in sources:
        con = connect(cfg)
        try:
            claims(con, module, cfg, path)
            rsids |= {r[0] for r in con.execute("SELECT DISTINCT rsid FROM claims WHERE problem IS NULL").fetchall()}
        except duckdb.Error as exc:
            raise duck_failure(exc, f"on the {module.name} curation") from None
        finally:
            con.close()
    con = connect(cfg)
    try:
        try:
            rel = con.read_parquet(parquet)
        except duckdb.Error as exc:
            raise Failure(f"{parquet}: cannot read the Ensembl Parquet file ({str(exc).splitlines()[0]})") from None
        missing = [c for c in REQUIRED if c not in rel.columns]
        if missing:
            raise Failure(f"{parquet}: lacks column(s) {', '.join(missing)} (needs {', '.join(REQUIRED)})")
        # Column names pasted here are fixed strings or matched the strict patterns of ensembl_set.
        rel.project(", ".join(f'"{c}"' for c in module_columns(rel.columns))).create_view("source")
        con.register("curated_rsids", pa.table({"rsid": pa.array(sorted(rsids), type=pa.string())}))
        hits = run_sql(con, "hits", {})
    except duckdb.Error as exc:
        raise duck_failure(exc, f"on {parquet}") from None
    finally:
        con.close()
    meta = pq.read_metadata(parquet)
    footer = {HITS_SOURCE_KEY: os.path.basename(parquet).encode(), HITS_ROWS_KEY: str(meta.num_rows).encode(),
              HITS_MODULES_KEY: ",".join(m.name for m, _ in sources).encode()}
    release = (meta.metadata or {}).get(b"ensembl_release")
    if release:
        footer[b"ensembl_release"] = release
    return hits.replace_schema_metadata(footer), meta.num_rows


def build_tables(cfg: dict, module: Module, source: Path, files: list[str]) -> tuple[dict, dict]:
    """Run the module's SQL against the Ensembl ``files``; return ({output file: Arrow
    table}, facts for the step log). The checks are check()'s (the build step runs them)."""
    import duckdb

    con = connect(cfg)
    try:
        claims(con, module, cfg, source)
        facts = ensembl_view(con, files)
        params = module.params(cfg)
        for stage in ("ensembl_hits", "candidates"):
            con.register(stage, run_sql(con, module.sql(stage), params))
        results = {f"{t}.parquet": run_sql(con, module.sql(t), params) for t in ("annotations", "studies", "weights")}
        results.update({f"{t}.tsv": run_sql(con, module.sql(t), params) for t in ("unresolved", "conflicts")})
        facts.update(claim_facts(con, module))
        facts["merged_rows"] = con.execute(
            "SELECT count(*) FROM candidates WHERE genotype IS NOT NULL AND NOT conflict AND NOT published").fetchall()[0][0]
        facts["lost_rows"] = con.execute(f'SELECT count(*) FROM "{module.source["claims"]}" ANTI JOIN claims '
                                         "ON _row = claims.source_row").fetchall()[0][0]
    except duckdb.Error as exc:
        raise duck_failure(exc, f"while building {module.name}") from None
    finally:
        con.close()
    return results, facts


def claim_facts(con, module: Module) -> dict:
    one = lambda sql: con.execute(sql).fetchall()[0][0]  # noqa: E731
    return {
        "source_rows": one(f'SELECT count(*) FROM "{module.source["claims"]}"'),
        "claims": one("SELECT count(*) FROM claims"),
        "curated_rsids": one("SELECT count(DISTINCT rsid) FROM claims WHERE problem IS NULL"),
        "claims_by_mode": dict(con.execute("SELECT mode, count(*) FROM claims GROUP BY mode ORDER BY mode").fetchall()),
        "ensembl_hits": one("SELECT count(*) FROM ensembl_hits"),
        "published_claims": one("SELECT count(DISTINCT curated_id) FROM candidates "
                                "WHERE genotype IS NOT NULL AND NOT conflict"),
    }


def check(cfg: dict, module: Module, results: dict, facts: dict) -> None:
    """The checks, each failing the build with a sentence: every table has its columns and a
    row; module is the module; states are the consumer's; genotypes are sorted pairs; every
    weights rsid has an annotations row; every row of the source's claims table gave a claim."""
    import duckdb

    con = connect(cfg)
    try:
        problems = problems_of(con, module, results)
    except duckdb.Error as exc:
        raise duck_failure(exc, f"while checking {module.name}") from None
    finally:
        con.close()
    if facts.get("lost_rows"):
        problems.append(f"{facts['lost_rows']} row(s) of the source table {module.source['claims']} gave no claim "
                        f"(its curated.sql must give every row a claim, with a problem if it has one)")
    if problems:
        raise Failure(f"{module.name}: the build's checks failed: " + "; ".join(problems) + "; nothing was written")


def problems_of(con, module: Module, results: dict) -> list[str]:
    problems = []
    for name, columns in COLUMNS.items():
        table = results[name]
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            problems.append(f"{name} lacks column(s) {', '.join(missing)}")
        elif table.num_rows == 0:
            problems.append(f"{name} has no row")
        else:
            con.register("t", table)
            wrong = con.execute("SELECT DISTINCT module FROM t WHERE module IS DISTINCT FROM $m",
                                {"m": module.name}).fetchall()
            if wrong:
                problems.append(f"{name} has module value(s) {', '.join(repr(w[0]) for w in wrong)}, "
                                f"not {module.name!r}")
    if not problems:
        con.register("w", results["weights.parquet"])
        con.register("a", results["annotations.parquet"])
        states = [r[0] for r in con.execute("SELECT DISTINCT state FROM w WHERE state IS NULL "
                                            "OR state NOT IN (SELECT unnest($s))", {"s": list(STATES)}).fetchall()]
        if states:
            problems.append(f"weights.parquet has state(s) {', '.join(map(repr, states))} outside "
                            f"{', '.join(STATES)}")
        bad = con.execute("SELECT count(*) FROM w WHERE genotype IS NULL OR len(genotype) <> 2 "
                          "OR list_sort(genotype) <> genotype OR list_contains(genotype, NULL)").fetchall()[0][0]
        if bad:
            problems.append(f"weights.parquet has {bad} genotype(s) that are not a sorted pair of alleles")
        orphans = [r[0] for r in con.execute("SELECT DISTINCT rsid FROM w ANTI JOIN a USING (rsid) "
                                             "ORDER BY rsid LIMIT 5").fetchall()]
        if orphans:
            problems.append(f"weights.parquet rsid(s) {', '.join(orphans)} have no annotations row")
    return problems

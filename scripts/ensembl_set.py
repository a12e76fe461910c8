"""The Ensembl Parquet set as the module joins read it: which files make the set, the
`ensembl` view that gives them fixed column names (the ClinVar flag of the release, the
CLIN_* flags, clin_sig in the consumer's vocabulary), and the row counts of the hits
files of the map step (a hits file stands for the Parquet file it was made from).
"""

from __future__ import annotations

import glob
import os
import re

import common

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


HITS_ROWS_KEY = b"hits_source_rows"  # footer key of a hits file: rows of the file it was made from
HITS_SOURCE_KEY = b"hits_source"
HITS_MODULES_KEY = b"hits_modules"  # the modules whose curated rsids it holds


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

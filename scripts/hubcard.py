"""Content generated for the Hub: the Ensembl dataset card (README.md) and the
module's metadata.yaml, from Parquet footers (rows, schema, key-value metadata) and
one record for the card's example, never a full read of the data."""

from __future__ import annotations

import re
from pathlib import Path

import common
from common import Failure
from longevitymap import MODULE, OUTPUTS

MODULE_TABLES = tuple(Path(name).stem for name in OUTPUTS if name.endswith(".parquet"))
# Where the module's data comes from, as published in metadata.yaml (the configured
# longevitymap_url may be a local path or a test server: it is not published).
MODULE_SOURCE = "https://github.com/dna-seq/just_longevitymap"
# The logo referenced when no logo file is published (config longevitymap_logo empty and
# no logo.{png,jpg,jpeg} in the module directory): the Just-DNA project logo, where
# just-dna-lite keeps it (webui/assets/images/just_dna_seq.jpg).
DEFAULT_LOGO = "https://raw.githubusercontent.com/dna-seq/just-dna-lite/main/webui/assets/images/just_dna_seq.jpg"
LOGO_EXTENSIONS = ("png", "jpg", "jpeg")  # what the consumer looks for beside the tables
# How the module shows in just-dna-lite (metadata.yaml and manifest.json's display block).
MODULE_DISPLAY = {
    "title": "Longevity Map",
    "description": "Longevity-associated genetic variants from the LongevityMap database, "
                   "curated with per-genotype weights",
    "report_title": "Longevity Variants",
    "icon": "heart-pulse",
    "color": "#21ba45",
}


def natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def parquet_facts(path: Path) -> dict:
    """Rows, size, schema, and the Ensembl release and VCF file date that
    vcf2parquet writes into the footer (keys ensembl_release, vcf_file_date)."""
    import polars as pl
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
        schema = pl.read_parquet_schema(path)
    except Exception as exc:  # noqa: BLE001 - any reader error means an unusable file
        raise Failure(f"{path}: not a readable Parquet file ({exc})") from None
    kv = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
          for k, v in (meta.metadata or {}).items()}
    date = kv.get("vcf_file_date") or "unknown"
    if re.fullmatch(r"\d{8}", date):  # VCF ##fileDate=YYYYMMDD
        date = f"{date[:4]}-{date[4:6]}-{date[6:]}"
    return {"name": path.name, "rows": meta.num_rows, "size": path.stat().st_size,
            "schema": [(name, str(dtype)) for name, dtype in schema.items()],
            "release": kv.get("ensembl_release") or "unknown", "date": date}


def summary(values: list[str]) -> str:
    distinct = sorted(set(values), key=natural_key)
    known = [v for v in distinct if v != "unknown"]
    if not known:
        return "unknown"
    return known[0] if len(distinct) == 1 else f"mixed ({', '.join(distinct)})"


def size_category(rows: int) -> str:
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
              (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"),
              (1_000_000_000, "100M<n<1B"), (10_000_000_000, "1B<n<10B")]
    for bound, label in bounds:
        if rows < bound:
            return label
    return "10B<n<100B"


COLUMN_NOTES = {
    "chrom": "chromosome as in the VCF, without a `chr` prefix",
    "start": "1-based position (VCF POS)",
    "end": "end position of the record (1-based)",
    "id": "variant identifier (VCF ID, e.g. an rsID)",
    "ref": "reference allele",
    "alt": r"alternate alleles joined by `\|`",
    "alts": "alternate alleles as a list",
    "qual": "VCF QUAL",
    "filter": "VCF FILTER",
}


def first_record(path: Path) -> dict | None:
    """The first record of a file (chrom, start, ref, alt) for the card's example;
    reads one small batch, not the file."""
    import pyarrow.parquet as pq

    try:
        batch = next(pq.ParquetFile(path).iter_batches(batch_size=1,
                                                       columns=["chrom", "start", "ref", "alt"]))
        row = batch.to_pylist()[0]
        return row if row["chrom"] is not None and row["start"] is not None else None
    except Exception:  # noqa: BLE001 - the example falls back to no position filter
        return None


def data_paths(species: str, files: list[Path]) -> str | list[str]:
    """The card's data_files: exactly the files published (in chromosome order), not a
    pattern, so that nothing else under data/ (a stray file published by an older tool)
    is read as part of the dataset. One file: its path as a string."""
    paths = [f"data/{f.name}" for f in sorted(files, key=lambda f: natural_key(f.name))]
    return paths[0] if len(paths) == 1 else paths


def ensembl_card(repo_id: str, species: str, files: list[Path], facts: list[dict],
                 left_out: list[str] = ()) -> str:
    """The card from local files: their footer facts and the first file's first record."""
    return card_from_facts(repo_id, species, facts, first_record(files[0]), left_out)


def card_from_facts(repo_id: str, species: str, facts: list[dict], record: dict | None,
                    left_out: list[str] = ()) -> str:
    """The dataset card from facts dicts alone (name, rows, size, schema, release, date, as
    parquet_facts gives them; e.g. from the per-file reports of CI legs) and the example
    ``record`` (chrom, start of the first file's first row, or None). ``left_out``: names of
    the discovery manifest's Parquet files not published (an --allow-partial upload); the
    card then says what is included."""
    import yaml

    release = summary([f["release"] for f in facts])
    date = summary([f["date"] for f in facts])
    rows = sum(f["rows"] for f in facts)
    size = sum(f["size"] for f in facts)
    source = (f"https://ftp.ensembl.org/pub/release-{release}/variation/vcf/{species}/"
              if release.isdigit() else f"https://ftp.ensembl.org/pub/current_variation/vcf/{species}/")
    front = {
        "license": "other",
        "license_name": "ensembl-data-use",
        "license_link": "https://www.ensembl.org/info/about/legal/disclaimer.html",
        "pretty_name": f"Ensembl variations ({species}, release {release})",
        "tags": ["biology", "genomics", "variants", "vcf", "ensembl", species],
        "size_categories": [size_category(rows)],
        "configs": [{"config_name": species, "default": True,
                     "data_files": [{"split": "train", "path": data_paths(species, [Path(f["name"]) for f in facts])}]}],
    }
    # Columns: in order of first appearance; note the ones absent from some files.
    columns: dict[str, set[str]] = {}
    present: dict[str, int] = {}
    for f in facts:
        for name, dtype in f["schema"]:
            columns.setdefault(name, set()).add(dtype)
            present[name] = present.get(name, 0) + 1
    url = f"hf://datasets/{repo_id}/data/{facts[0]['name']}"
    if record:
        chrom, start = str(record["chrom"]), int(record["start"])
        pl_filter = f'pl.col("chrom") == "{chrom}", pl.col("start") == {start}'
        sql_filter = f"WHERE chrom = '{chrom}' AND start = {start}"
    else:
        pl_filter, sql_filter = 'pl.col("chrom").is_not_null()', "WHERE chrom IS NOT NULL"

    lines = ["---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", "",
             f"# Ensembl variations: {species}", "",
             f"Short variants of *{species}* from Ensembl's variation VCF files ({source}), "
             "converted to Parquet by prepare-annotations for the Just-DNA stack: one file per "
             "VCF (per chromosome), one row per VCF record "
             "(multi-allelic records are not split; their alternate alleles are in `alts`).", "",
             "| | |", "|---|---|",
             f"| Ensembl release | {release} |",
             f"| VCF file date | {date} |",
             f"| Files | {len(facts)}" + (f" of {len(facts) + len(left_out)} (partial)" if left_out else "") + " |",
             f"| Rows | {rows:,} |",
             f"| Total size | {common.human_bytes(size)} ({size:,} bytes) |", "",
             "## Files", ""]
    if left_out:
        included = ", ".join(common.file_label(species, Path(f["name"]).stem) for f in facts)
        missing = ", ".join(common.file_label(species, Path(n).stem) for n in sorted(left_out, key=natural_key))
        lines += [f"**Partial:** this upload holds {len(facts)} of the {len(facts) + len(left_out)} files "
                  f"selected from Ensembl's listing for {species}. Included: {included}. Not included: {missing}.", ""]
    lines += ["| file | rows | size |", "|---|---:|---:|"]
    lines += [f"| `data/{f['name']}` | {f['rows']:,} | {common.human_bytes(f['size'])} |" for f in facts]
    lines += ["", "## Columns", "",
              "Positions are 1-based as in the VCF. After the fixed columns comes one column per "
              "INFO field of the VCF header, named by its ID (Flag → Boolean, false when absent; "
              "Integer → Int32; Float → Float32; String → String; lists when a field holds several "
              "values).", "", "| column | type | description |", "|---|---|---|"]
    for name, dtypes in columns.items():
        note = COLUMN_NOTES.get(name, f"INFO field `{name}`")
        if present[name] < len(facts):
            note += f" (in {present[name]} of {len(facts)} files)"
        lines.append(f"| `{name}` | {' / '.join(sorted(dtypes))} | {note} |")
    lines += ["", "## Use", "", "With Polars (reads only the row groups it needs):", "",
              "```python", "import polars as pl", "",
              f'variants = pl.scan_parquet("{url}")',
              "print(",
              f"    variants.filter({pl_filter})",
              '    .select("chrom", "start", "id", "ref", "alt")',
              "    .collect()",
              ")", "```", "", "With DuckDB:", "",
              "```python", "import duckdb", "",
              'duckdb.sql("""',
              "    SELECT chrom, start, id, ref, alt",
              f"    FROM '{url}'",
              f"    {sql_filter}",
              '""").show()', "```", "",
              "## Source and terms", "",
              f"Data: [Ensembl Variation]({source}). Ensembl imposes no restrictions on the use "
              "of its data; cite Ensembl (Harrison et al., *Nucleic Acids Research*) and the "
              "original sources (dbSNP, ClinVar, gnomAD, …) where appropriate.", ""]
    return "\n".join(lines)


def module_metadata(cfg: dict, logo: Path | str | None) -> str:
    """metadata.yaml of the module. ``logo``: a logo file published beside it (then
    referenced by its name there, logo.<ext>), a URL, or None (DEFAULT_LOGO)."""
    import yaml

    meta = {
        "name": MODULE,
        **MODULE_DISPLAY,
        "logo": logo_name(logo) if isinstance(logo, Path) else (logo or DEFAULT_LOGO),
        "curator": cfg["curator"],
        "method": cfg["method"],
        "source": MODULE_SOURCE,
        "tables": {t: f"{t}.parquet" for t in MODULE_TABLES},
    }
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)


# --- the module's manifest.json (what just-dna-lite reads: identity.version,
# artifact.digest, weighting; the shape of just-dna-format's ModuleManifest) ------------------

def logo_name(path: Path) -> str:
    """The name a logo file is published under beside the tables: logo.<ext>."""
    return f"logo.{path.suffix.lower().lstrip('.')}"


def file_entry(path: Path, name: str | None = None) -> dict:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return {"name": name or path.name, "sha256": "sha256:" + digest.hexdigest(),
            "size": path.stat().st_size}


def artifact_digest(entries: list[dict]) -> str:
    """SHA-256 over the tables' listing: [{name, sha256, size}] sorted by name, JSON with
    sorted keys and no whitespace - just-dna-format's artifact_digest, so the consumer's
    own verification recomputes the same value. It changes exactly when a table's bytes
    (or the set of tables) change."""
    import hashlib
    import json

    listing = sorted(({"name": e["name"], "sha256": e["sha256"], "size": e["size"]} for e in entries),
                     key=lambda e: e["name"])
    canonical = json.dumps(listing, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def module_stats(tables: dict[str, Path]) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def column(table: str, name: str):
        path = tables[table]
        return pq.read_table(path, columns=[name])[name] if name in pq.read_schema(path).names else None

    def distinct(table: str, name: str) -> list[str]:
        values = column(table, name)
        return sorted({v for v in values.to_pylist() if v}) if values is not None else []

    def count_true(name: str) -> int:
        values = column("weights", name)
        return int(pc.sum(pc.cast(pc.fill_null(values, False), "int64")).as_py() or 0) if values is not None else 0

    genes = distinct("annotations", "gene")
    return {"variant_count": len(distinct("weights", "rsid")),
            "weights_rows": pq.read_metadata(tables["weights"]).num_rows,
            "study_count": pq.read_metadata(tables["studies"]).num_rows,
            "gene_count": len(genes), "genes": genes,
            "categories": distinct("annotations", "category"),
            "clinvar_count": count_true("clinvar"), "pathogenic_count": count_true("pathogenic"),
            "benign_count": count_true("benign")}


def module_manifest(cfg: dict, tables: list[Path], logo: Path | None) -> str:
    """manifest.json of the module: identity (name, version = config longevitymap_version),
    display, curator/method, weighting (what `weight` means), stats, and artifact (every
    table's SHA-256 and size, and their digest); logo when a logo file is published."""
    import json

    by_name = {p.stem: p for p in tables}
    entries = [file_entry(p) for p in sorted(tables, key=lambda p: p.name)]
    manifest = {
        "manifest_version": "1.0",
        "schema_version": "1.0",
        "identity": {"name": MODULE, "version": str(cfg["longevitymap_version"])},
        "display": dict(MODULE_DISPLAY),
        "genome_build": "GRCh38",
        "curator": cfg["curator"],
        "method": cfg["method"],
        "license": None,
        "weighting": {
            "scale": "curator-set score per genotype from the LongevityMap curation: positive = "
                     "associated with longevity (protective), negative = risk, 0 = neutral; the "
                     "scale is the curation's own, not an odds ratio or a regression coefficient",
            "method": f"{cfg['method']} by {cfg['curator']} of the LongevityMap studies; per-allele "
                      "weights resolved into genotypes against the Ensembl variation set",
            "note": "not on a common scale with other modules' weights",
        },
        "stats": module_stats(by_name),
        "compilation": {"compile_success": True, "compiled_by": "prepare-annotations"},
        "artifact": {"digest": artifact_digest(entries), "files": entries},
        "logo": file_entry(logo, logo_name(logo)) if logo else None,
    }
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"

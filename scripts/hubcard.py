"""Content generated for the Hub: the Ensembl dataset card (README.md), from Parquet
footers (rows, schema, key-value metadata) and one record for the card's example, never
a full read of the data. (A module's manifest.json and metadata.yaml: modcard.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import common
from common import Failure


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

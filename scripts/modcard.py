"""What a module publishes beside its tables, for just-dna-lite: manifest.json (the shape of
just-dna-format's ModuleManifest: identity.version, artifact.files with each table's
SHA-256 and size, and their digest, which the consumer's verify_manifest recomputes;
weighting, licence, stats) and metadata.yaml (name, display, curator, method, source,
logo, tables). Both come from module.toml, the configuration and the written files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import outputs
from moduledef import ARTIFACT, Module

# The logo named when a module publishes no logo file (module.toml logo empty): the
# Just-DNA project logo, where just-dna-lite keeps it (webui/assets/images/just_dna_seq.jpg).
DEFAULT_LOGO = "https://raw.githubusercontent.com/dna-seq/just-dna-lite/main/webui/assets/images/just_dna_seq.jpg"
# The parquet files the consumer takes as the module (manifest artifact.files, its digest).


def file_entry(path: Path, name: str | None = None) -> dict:
    size, sha256 = outputs.sha256_file(path)
    return {"name": name or path.name, "sha256": "sha256:" + sha256, "size": size}


def artifact_digest(entries: list[dict]) -> str:
    """SHA-256 over the tables' listing: [{name, sha256, size}] sorted by name, JSON with
    sorted keys and no whitespace - just-dna-format's artifact_digest, so the consumer's
    own verification recomputes the same value. It changes exactly when a table's bytes
    (or the set of tables) change."""
    listing = sorted(({"name": e["name"], "sha256": e["sha256"], "size": e["size"]} for e in entries),
                     key=lambda e: e["name"])
    canonical = json.dumps(listing, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def stats(tables: dict[str, Path]) -> dict:
    """Counts for manifest.json from the written tables (annotations, studies, weights)."""
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


def manifest(module: Module, cfg: dict, tables: dict[str, Path], logo: Path | None) -> bytes:
    """manifest.json: ``tables`` maps each ARTIFACT name to the file written (perhaps under
    a temporary name); ``logo`` is the logo file published beside them, or None."""
    entries = [file_entry(tables[name], name) for name in sorted(tables)]
    weighting = module.meta.get("weighting") or {}
    doc = {
        "manifest_version": "1.0",
        "schema_version": "1.0",
        "identity": {"name": module.name, "version": module.version(cfg)},
        "display": module.display(),
        "genome_build": module.meta["genome_build"],
        "curator": module.curator(cfg),
        "method": module.method(cfg),
        "license": module.meta["license"],
        "weighting": {k: str(weighting.get(k) or "") for k in ("scale", "method", "note")},
        "stats": stats({Path(n).stem: p for n, p in tables.items()}),
        "compilation": {"compile_success": True, "compiled_by": "prepare-annotations"},
        "artifact": {"digest": artifact_digest(entries), "files": entries},
        "logo": file_entry(logo) if logo else None,
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def metadata(module: Module, cfg: dict, logo: Path | None) -> bytes:
    """metadata.yaml; its logo is the file published beside it (logo.<ext>), else the
    Just-DNA logo's URL (the consumer shows only a file; the URL is for people)."""
    import yaml

    meta = {
        "name": module.name,
        **module.display(),
        "logo": logo.name if logo else DEFAULT_LOGO,
        "curator": module.curator(cfg),
        "method": module.method(cfg),
        "license": module.meta["license"],
        "source": str(module.meta.get("homepage") or module.source["url"]),
        "tables": {Path(t).stem: t for t in ARTIFACT},
    }
    return yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).encode()

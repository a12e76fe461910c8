"""The lineage graph of the status document: which boxes the page draws and which arrows
join them, from the stages that have rows. The page lays the graph out itself (layers
left to right); this module only says what is there. A new stage or module is a node
and its edges below, nothing in the page's code.

Each node: id, title, sub (a short note), stages (the status rows it stands for; their
worst state colours it), cells (one cell per row: the partitions), ext (an outside
source or destination, drawn dashed), upload (the Hub kind whose last upload it shows),
detail (what its details panel says when it has no rows). Imports nothing of ours.
"""

from __future__ import annotations

from urllib.parse import urlsplit

# (id, title, sub, stages, cells) of the files this project makes, in the flow's order
ENSEMBL = [
    ("manifest", "vcf_urls.json", "discover", ["manifest"], False),
    ("vcf", "VCFs", "fetch + sum-check", ["vcf"], True),
    ("parquet", "Parquet", "vcf2parquet", ["parquet"], True),
]
MODULES = [
    ("module-source", "module sources", "fetch + check", ["module-source"], True),
    ("module-hits", "hits (all modules)", "per-file semi-join (map)", ["module-hits"], True),
    ("module-inputs", "inputs.txt", "file list, curator, method", ["module-inputs"], False),
    ("module-table", "module tables", "DuckDB sql/modules/* (reduce)", ["module-table"], True),
]
EDGES = [
    ("listing", "manifest"), ("manifest", "vcf"), ("vcf", "parquet"), ("parquet", "hub-ensembl"),
    ("curation", "module-source"), ("module-source", "module-hits"), ("parquet", "module-hits"),
    ("parquet", "module-inputs"), ("module-hits", "module-table"), ("module-inputs", "module-table"),
    ("module-table", "hub-modules"),
]


def graph(doc: dict) -> dict:
    """{"nodes": [...], "edges": [[from, to], ...]} for the status document ``doc``
    (its rows, discovery and uploads); nodes whose stages have no rows are left out,
    with the outside nodes that only they joined."""
    present = {r["stage"] for r in doc.get("rows", [])}
    uploads = {u.get("kind"): u for u in doc.get("uploads", [])}
    base_url = (doc.get("discovery") or {}).get("base_url") or (doc.get("discovery") or {}).get("config_base_url")
    host = urlsplit(base_url).netloc if base_url else ""
    nodes = [{"id": "listing", "title": "Ensembl listing", "sub": host or "HTTP", "ext": True,
              "detail": "the Apache index of BASE_URL/<species>/ and its CHECKSUMS"}]
    for key, title, sub, stages, cells in ENSEMBL:
        nodes.append({"id": key, "title": title, "sub": sub, "stages": stages, "cells": cells})
    nodes.append({"id": "hub-ensembl", "title": "Hub: Ensembl set", "sub": "just upload", "ext": True,
                  "upload": "ensembl", "detail": "the species' Parquet set on the Hugging Face Hub"})
    if any(stage in present for _, _, _, stages, _ in MODULES for stage in stages):
        nodes.append({"id": "curation", "title": "module curations", "sub": "SQLite / TSV (HTTP)", "ext": True,
                      "detail": "each module's source, fetched once into modules/<module>/ (FORCE=1 fetches it again)"})
        for key, title, sub, stages, cells in MODULES:
            nodes.append({"id": key, "title": title, "sub": sub, "stages": stages, "cells": cells})
        nodes.append({"id": "hub-modules", "title": "Hub: modules", "sub": "just upload-modules",
                      "ext": True, "upload": "modules", "detail": "the module tables on the Hugging Face Hub"})
    for node in nodes:
        node.setdefault("stages", [])
        node.setdefault("cells", False)
        node.setdefault("ext", False)
        if node.get("upload") and node["upload"] not in uploads:
            node["sub"] = "no upload recorded"
    ids = {n["id"] for n in nodes}
    return {"nodes": nodes, "edges": [[a, b] for a, b in EDGES if a in ids and b in ids]}

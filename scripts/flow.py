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
    ("lm-source", "longevitymap.sqlite", "fetch + check", ["lm-source"], False),
    ("lm-hits", "LongevityMap hits", "per-file semi-join (map)", ["lm-hits"], True),
    ("lm-inputs", "inputs.txt", "file list, CURATOR, METHOD", ["lm-inputs"], False),
    ("lm-table", "module tables", "DuckDB sql/*.sql (reduce)", ["lm-table"], True),
]
EDGES = [
    ("listing", "manifest"), ("manifest", "vcf"), ("vcf", "parquet"), ("parquet", "hub-ensembl"),
    ("curation", "lm-source"), ("lm-source", "lm-hits"), ("parquet", "lm-hits"), ("parquet", "lm-inputs"),
    ("lm-hits", "lm-table"), ("lm-inputs", "lm-table"), ("lm-table", "hub-modules"),
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
        nodes.append({"id": "curation", "title": "LongevityMap curation", "sub": "SQLite (HTTP)", "ext": True,
                      "detail": "fetched once into longevitymap.sqlite (FORCE=1 fetches it again)"})
        for key, title, sub, stages, cells in MODULES:
            nodes.append({"id": key, "title": title, "sub": sub, "stages": stages, "cells": cells})
        nodes.append({"id": "hub-modules", "title": "Hub: modules", "sub": "just upload-longevitymap",
                      "ext": True, "upload": "longevitymap", "detail": "the module tables on the Hugging Face Hub"})
    for node in nodes:
        node.setdefault("stages", [])
        node.setdefault("cells", False)
        node.setdefault("ext", False)
        if node.get("upload") and node["upload"] not in uploads:
            node["sub"] = "no upload recorded"
    ids = {n["id"] for n in nodes}
    return {"nodes": nodes, "edges": [[a, b] for a, b in EDGES if a in ids and b in ids]}

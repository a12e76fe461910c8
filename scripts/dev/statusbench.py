"""Benchmark of `status --json` on a synthetic full human cache.

    python scripts/dev/statusbench.py --json bench/status.json

Writes, under bench/status/cache (replaced each run), what a finished human download
and conversion leave behind: vcf_urls.json with the 25 per-chromosome files (chr1-22,
X, Y, MT), discovery.key, CHECKSUMS, the expected/ stamps, the Make fragment, 25 VCF
files (small stand-ins: status only looks at their times and sizes), 25 real Parquet
files (footer with rows, release and source checksum) and a step log of 10,000 lines
(fetch and conversion history, discovery, uploads). File times are set in build order,
so every file target is up to date. Then runs `scripts/status.py --json` as a child
process several times (no network: the listing URL is never contacted) and records the
wall times, including the interpreter's start, in the JSON file.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import typer

import onpath  # noqa: F401 - scripts/ on sys.path, before the pipeline's modules
import common
import config

CHROMOSOMES = [str(n) for n in range(1, 23)] + ["X", "Y", "MT"]
SPECIES = "homo_sapiens"
BASE_URL = "https://ftp.ensembl.org/pub/release-114/variation/vcf/"  # never contacted
ROWS = 1000
LOG_LINES = 10_000


def build(cache: Path) -> dict[str, str]:
    """Write the synthetic cache; return the environment that selects it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    env = {"CACHE_DIR": str(cache), "SPECIES": SPECIES, "BASE_URL": BASE_URL}
    shutil.rmtree(cache, ignore_errors=True)
    cfg = config.load({**{k: v for k, v in os.environ.items() if k != "PA_CONFIG"}, **env})
    sdir = common.species_dir(cfg)
    (sdir / "vcf").mkdir(parents=True)
    (sdir / "expected").mkdir()
    names = [f"{SPECIES}-chr{c}.vcf.gz" for c in CHROMOSOMES]
    urls = [f"{BASE_URL}{SPECIES}/{n}" for n in names]
    # an hour ago (after the last edit of the pipeline's code, which Make compares too), in build order below
    t0 = max(time.time() - 3600, max(p.stat().st_mtime for p in (common.ROOT / "scripts").glob("*.py")) + 1)
    stamp = lambda path, step: os.utime(path, (t0 + step, t0 + step))  # noqa: E731

    (sdir / "discovery.key").write_text(config.discovery_key(cfg) + "\n")
    stamp(sdir / "discovery.key", 0)
    (sdir / "vcf_urls.json").write_text(json.dumps(urls, indent=1) + "\n")
    stamp(sdir / "vcf_urls.json", 1)
    sums = {n: f"{(i * 7919) % 65536:05d} {1000 + i}" for i, n in enumerate(names)}
    (sdir / "CHECKSUMS").write_text("".join(f"{s} {n}\n" for n, s in sums.items()))
    (sdir / "vcf_files.mk").write_text(f"VCF_NAMES := {' '.join(names)}\n")
    for n in names:
        (sdir / "expected" / n).write_text(sums[n] + "\n")
        stamp(sdir / "expected" / n, 2)
    table = pa.table({"chrom": ["1"] * ROWS, "start": pa.array(range(1, ROWS + 1), pa.uint32()),
                      "id": [f"rs{i}" for i in range(ROWS)]})
    log = []
    for i, n in enumerate(names):
        vcf = sdir / "vcf" / n
        vcf.write_bytes(b"\x1f\x8b" + bytes(1024))
        stamp(vcf, 10 + i)
        out = sdir / f"{common.vcf_stem(n)}.parquet"
        meta = {"source_file": n, "ensembl_release": "114", "source_checksum": sums[n]}
        pq.write_table(table.replace_schema_metadata(meta), out)
        stamp(out, 100 + i)
        log.append((vcf, out))
    lines = [json.dumps({"time": "2026-01-01T00:00:00Z", "step": "discover", "target": str(sdir / "vcf_urls.json"),
                         "seconds": 0.5, "peak_rss_bytes": 40 << 20, "files": 25, "outcome": "ok"})]
    k = 0
    while len(lines) < LOG_LINES:
        vcf, out = log[k % len(log)]
        failed = k % 97 == 5
        lines.append(json.dumps({"time": f"2026-01-{1 + k // 500:02d}T00:00:00Z", "step": "fetch",
                                 "target": str(vcf), "seconds": 12.5, "peak_rss_bytes": 45 << 20,
                                 "bytes": 1_000_000_000, "checksum": "01234 977", "outcome": "ok"}))
        lines.append(json.dumps({"time": f"2026-01-{1 + k // 500:02d}T00:00:01Z", "step": "vcf2parquet",
                                 "target": str(out), "seconds": 80.0, "peak_rss_bytes": 900 << 20,
                                 "rows": 5_000_000, "bytes": 300_000_000, "threads": 4,
                                 **({"outcome": "failed", "message": "interrupted"} if failed
                                    else {"outcome": "ok"})}))
        k += 1
    for vcf, out in log:  # the latest attempt of each succeeded
        lines.append(json.dumps({"time": "2026-02-01T00:00:00Z", "step": "vcf2parquet", "target": str(out),
                                 "seconds": 81.0, "peak_rss_bytes": 950 << 20, "rows": ROWS, "outcome": "ok"}))
    lines.append(json.dumps({"time": "2026-02-02T00:00:00Z", "step": "upload-ensembl",
                             "target": "datasets/just-dna-seq/ensembl_variations", "repo": "just-dna-seq/ensembl_variations",
                             "kind": "ensembl", "seconds": 300.0, "peak_rss_bytes": 200 << 20,
                             "uploaded": [{"path": f"data/{o.name}", "bytes": 300_000_000, "reason": "new"}
                                          for _, o in log],
                             "skipped": [], "commit": "0" * 40, "commit_url": None,
                             "bytes_sent": 25 * 300_000_000, "outcome": "ok"}))
    (sdir / "steps.jsonl").write_text("\n".join(lines) + "\n")
    return env


def main(json_out: Path = typer.Option(Path("bench/status.json"), "--json", help="Where to write the figures."),
         runs: int = typer.Option(7, min=1, help="Timed runs of `status --json`.")) -> None:
    """Build the synthetic full human cache and time `status --json` on it."""
    cache = common.ROOT / "bench" / "status" / "cache"
    env = {**os.environ, **build(cache)}
    cmd = [sys.executable, str(common.ROOT / "scripts" / "status.py"), "--json"]
    times = []
    for _ in range(runs + 1):  # the first run warms the file cache and is not counted
        t = time.perf_counter()
        out = subprocess.run(cmd, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t)
        if out.returncode != 0:
            common.die(f"status --json failed: {out.stderr.strip()}")
    times = times[1:]
    doc = json.loads(out.stdout)
    figures = {"files": {"vcf": 25, "parquet": 25}, "log_lines": LOG_LINES + 26,
               "rows_reported": len(doc["rows"]), "runs": runs,
               "median_seconds": round(statistics.median(times), 3), "max_seconds": round(max(times), 3),
               "min_seconds": round(min(times), 3)}
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"status --json on a synthetic full human cache (25 VCF + 25 Parquet, {LOG_LINES:,}-line step log): "
          f"median {figures['median_seconds']:.3f} s, max {figures['max_seconds']:.3f} s over {runs} runs "
          f"(child process, interpreter start included) -> {json_out}")


if __name__ == "__main__":
    typer.run(main)

"""Benchmark VCF -> Parquet: the decompression floor, the polars-bio baseline, this
project's converter, side by side on one synthetic Ensembl-shaped VCF.

  python scripts/dev/vcfbench.py [--records 2000000] [--json bench/vcf2parquet.json]

Inputs are generated once by synthvcf.py (deterministic) and cached under bench/vcf/.
Every measurement runs in its own subprocess; its true peak RSS is the kernel's
high-water mark for that child (wait4), its time is the conversion itself (after the
interpreter started and imported polars-bio) and, in brackets, the whole process.

  (a) decompression floor: read the bgzip file through htslib (pysam), nothing else
  (b) baseline: polars_bio.scan_vcf(path) with default options + sink_parquet(engine="streaming")
  (c) vcf2parquet.py as `make parquet` runs it (threads from config, 0 = one per CPU)
  (c4) the same on 4x the records: peak memory must stay flat
  levers: what single changes give on their own (baseline with a larger DataFusion
  batch; baseline with a local .tbi and 2 DataFusion partitions, index build timed
  separately; vcf2parquet with one thread)

Then checks that (b) and (c) hold identical data (same rows in the same order; c's
extra `alts` column equals `alt` split on "|") and writes every figure to --json.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import typer

import onpath  # noqa: F401 - scripts/ on sys.path, before the pipeline's modules
import common

BENCH = common.ROOT / "bench"
SCRIPTS = common.ROOT / "scripts"
MIB = 1 << 20

# Child programs. Each prints one JSON line: {"seconds": conversion time, ...}.
DECOMPRESS = """
import json, sys, time, pysam
t = time.perf_counter(); n = 0
with pysam.BGZFile(sys.argv[1], "rb") as fh:
    while block := fh.read(1 << 22):
        n += len(block)
print(json.dumps({"seconds": time.perf_counter() - t, "text_bytes": n}))
"""

BASELINE = """
import json, sys, time
import polars_bio as pb
opts = json.loads(sys.argv[3])
for key, value in opts.get("options", {}).items():
    pb.set_option(key, value)
t = time.perf_counter()
pb.scan_vcf(sys.argv[1]).sink_parquet(sys.argv[2], engine="streaming")
print(json.dumps({"seconds": time.perf_counter() - t}))
"""

TABIX = """
import json, sys, time, pysam
t = time.perf_counter()
pysam.tabix_index(sys.argv[1], preset="vcf", force=True)
print(json.dumps({"seconds": time.perf_counter() - t}))
"""


def bench_input(records: int) -> Path:
    """The cached synthetic VCF with ``records`` records (rebuilt when synthvcf.py changed)."""
    import synthvcf

    path = BENCH / "vcf" / f"synthetic-{records}.vcf.gz"
    gen = Path(synthvcf.__file__)
    if not path.exists() or path.stat().st_mtime < gen.stat().st_mtime:
        common.say(f"generating {path.relative_to(common.ROOT)} ({records:,} records, cached for next runs)")
        t = time.perf_counter()
        synthvcf.write_vcf(path, records, seed=2025, chrom="1", start_pos=10_000)
        common.say(f"  generated in {time.perf_counter() - t:.1f} s")
    return path


def run_child(name: str, cmd: list[str], rows: int | None = None, env: dict | None = None) -> dict:
    """Run ``cmd``; return its figures: seconds (its own JSON, or the step log), process
    seconds, true peak RSS of that child alone."""
    log = BENCH / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=common.ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text(errors="replace")
    if proc.returncode != 0:
        raise common.Failure(f"{name}: exit code {proc.returncode}; see {log}:\n{text[-2000:]}")
    result = {"process_seconds": round(wall, 3), "peak_rss_bytes": usage.ru_maxrss * 1024,
              "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3)}
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            result["seconds"] = round(json.loads(line)["seconds"], 3)
            break
    if rows is not None and "seconds" in result:
        result["rows"] = rows
        result["rows_per_s"] = round(rows / result["seconds"])
    return result


def ours(name: str, vcf: Path, out: Path, rows: int, threads: int | None = None) -> dict:
    """vcf2parquet.py as make runs it; its conversion time comes from its step log."""
    cmd = [sys.executable, str(SCRIPTS / "vcf2parquet.py"), str(vcf), str(out)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    steps = out.parent / "steps.jsonl"
    steps.unlink(missing_ok=True)
    result = run_child(name, cmd)
    step = json.loads(steps.read_text().splitlines()[-1])
    result.update(seconds=step["seconds"], threads=step["threads"], rows=step["rows"],
                  rows_per_s=round(step["rows"] / step["seconds"]), output_bytes=step["bytes"])
    if step["rows"] != rows:
        raise common.Failure(f"{name}: {step['rows']:,} rows written, the VCF has {rows:,}")
    return result


def baseline(name: str, vcf: Path, out: Path, rows: int, **opts) -> dict:
    result = run_child(name, [sys.executable, "-c", BASELINE, str(vcf), str(out), json.dumps(opts)], rows)
    result["output_bytes"] = out.stat().st_size
    return result


def same_data(base: Path, mine: Path) -> tuple[bool, str]:
    """(b) and (c) hold the same rows in the same order; c's alts = alt split on "|"."""
    import polars as pl

    b, c = pl.scan_parquet(base), pl.scan_parquet(mine)
    bs, cs = b.collect_schema(), c.collect_schema()
    expected = {k: v for k, v in cs.items() if k != "alts"}
    if dict(bs) != expected or list(bs) != list(expected):
        return False, f"schemas differ: {dict(bs)} vs {expected}"
    rows = lambda lf: lf.select(pl.len()).collect().item()  # noqa: E731
    if rows(b) != rows(c):
        return False, f"row counts differ: {rows(b)} vs {rows(c)}"
    row_hash = lambda lf: lf.select(pl.struct(list(bs)).hash(7).alias("h")).collect(engine="streaming")["h"]  # noqa: E731
    differ = int((row_hash(b) != row_hash(c)).sum())
    if differ:
        return False, f"{differ:,} rows differ"
    # checked the other way round from how the converter builds it: joined back, alts is alt
    bad_alts = c.select((pl.col("alts").list.join("|") != pl.col("alt")).sum()).collect(engine="streaming").item()
    if bad_alts:
        return False, f"{bad_alts:,} rows have alts joined by '|' != alt"
    return True, "same rows, same order, same values; alts joined by '|' = alt"


def starts_sorted(path: Path) -> bool:
    import polars as pl

    return bool(pl.read_parquet(path, columns=["start"])["start"].is_sorted())


def in_child(func: str, *args: Path):
    """Call one of the checks above in a child process: polars never loads into this
    one, whose peak RSS would otherwise show up in the children's (Linux copies the
    parent's high-water mark into a vfork()ed child at exec)."""
    code = (f"import json, sys; sys.path[:0] = [{str(SCRIPTS / 'dev')!r}, {str(SCRIPTS)!r}]; import vcfbench; "
            f"print(json.dumps(vcfbench.{func}(*sys.argv[1:])))")
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise common.Failure(f"check {func} failed: {out.stderr.strip()[-1000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def fmt(name: str, r: dict) -> str:
    speed = f"{r['rows_per_s']:>10,} rows/s" if "rows_per_s" in r else " " * 17
    return (f"  {name:<44} {r['seconds']:>6.2f} s [{r['process_seconds']:>5.2f} s]  {speed}  "
            f"peak RSS {r['peak_rss_bytes'] / MIB:>5.0f} MiB")


def main(
    records: int = typer.Option(2_000_000, min=1000, help="Records in the synthetic VCF"),
    json_out: Path = typer.Option(BENCH / "vcf2parquet.json", "--json", help="Where to write the figures"),
    levers: bool = typer.Option(True, help="Also measure single levers on their own"),
    flat: bool = typer.Option(True, help="Also run (c) on 4x the records (memory must stay flat)"),
) -> None:
    """Measure (a) decompression, (b) the polars-bio baseline and (c) vcf2parquet."""
    try:
        load_before = os.getloadavg()
        vcf = bench_input(records)
        work = BENCH / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        report: dict = {
            "records": records, "input": str(vcf.relative_to(common.ROOT)), "input_bytes": vcf.stat().st_size,
            "machine": {"cpus": len(os.sched_getaffinity(0)), "python": platform.python_version(),
                        "load_average_before": [round(x, 2) for x in load_before]},
            "note": "seconds = the conversion itself; process_seconds = the whole child process "
                    "(interpreter start and imports included); peak_rss_bytes = that child's high-water mark",
        }
        print(f"VCF -> Parquet on {vcf.relative_to(common.ROOT)}: {records:,} records, "
              f"{common.human_bytes(vcf.stat().st_size)}; {report['machine']['cpus']} CPUs, "
              f"load {load_before[0]:.2f}")
        print("  (conversion seconds [whole process seconds])")
        a = run_child("a-decompress", [sys.executable, "-c", DECOMPRESS, str(vcf)], records)
        print(fmt("(a) decompression floor (htslib)", a))
        b = baseline("b-baseline", vcf, work / "baseline.parquet", records)
        print(fmt("(b) baseline: scan_vcf defaults + sink_parquet", b))
        c = ours("c-vcf2parquet", vcf, work / "ours.parquet", records)
        print(fmt(f"(c) vcf2parquet ({c['threads']} threads)", c))
        report.update(decompress=a, baseline=b, ours=c)
        report["ratio_c_over_b"] = round(c["rows_per_s"] / b["rows_per_s"], 3)
        report["ratio_c_over_b_whole_process"] = round(b["process_seconds"] / c["process_seconds"], 3)
        ok, why = in_child("same_data", work / "baseline.parquet", work / "ours.parquet")
        report["identical"], report["identical_detail"] = ok, why
        (work / "baseline.parquet").unlink()
        if flat:
            big = bench_input(records * 4)
            c4 = ours("c4-vcf2parquet-4x", big, work / "ours-4x.parquet", records * 4)
            print(fmt(f"(c4) vcf2parquet on 4x = {records * 4:,} records", c4))
            report["ours_4x"] = c4
            report["rss_growth_4x"] = round(c4["peak_rss_bytes"] / c["peak_rss_bytes"], 3)
            (work / "ours-4x.parquet").unlink()
        if levers:
            print("levers, one at a time:")
            lv = {}
            lv["baseline_batch_65536"] = baseline(
                "l1-batch", vcf, work / "l1.parquet", records,
                options={"datafusion.execution.batch_size": 65536})
            print(fmt("baseline + DataFusion batch_size 65536", lv["baseline_batch_65536"]))
            indexed = work / "indexed" / vcf.name
            indexed.parent.mkdir()
            shutil.copyfile(vcf, indexed)
            lv["tabix_index_build"] = run_child("l2-tabix", [sys.executable, "-c", TABIX, str(indexed)])
            print(fmt("  build a .tbi (pysam.tabix_index)", lv["tabix_index_build"]))
            lv["baseline_tbi_2_partitions"] = baseline(
                "l2-tbi", indexed, work / "l2.parquet", records,
                options={"datafusion.execution.target_partitions": 2})
            print(fmt("baseline + .tbi + 2 DataFusion partitions", lv["baseline_tbi_2_partitions"]))
            lv["baseline_tbi_2_partitions"]["row_order_kept"] = in_child("starts_sorted", work / "l2.parquet")
            print(f"    (index build not included; rows in file order: "
                  f"{lv['baseline_tbi_2_partitions']['row_order_kept']})")
            lv["ours_1_thread"] = ours("l3-one-thread", vcf, work / "l3.parquet", records, threads=1)
            print(fmt("vcf2parquet --threads 1", lv["ours_1_thread"]))
            report["levers"] = lv
        report["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        report["targets"] = {
            "ratio_at_least_1.5": report["ratio_c_over_b"] >= 1.5,
            "peak_rss_under_400_MiB": max(c["peak_rss_bytes"], report.get("ours_4x", c)["peak_rss_bytes"]) < 400 * MIB,
            "flat_memory_4x": report.get("rss_growth_4x", 1.0) < 1.25,
        }
        shutil.rmtree(work, ignore_errors=True)
        json_out.parent.mkdir(parents=True, exist_ok=True)
        common.atomic_write(json_out, (json.dumps(report, indent=2) + "\n").encode())
        print(f"(c)/(b): {report['ratio_c_over_b']:.2f}x rows/s "
              f"(whole process: {report['ratio_c_over_b_whole_process']:.2f}x); "
              f"identical data: {'yes' if ok else 'NO'} ({why})")
        if "rss_growth_4x" in report:
            print(f"peak RSS at 4x records: {report['rss_growth_4x']:.2f}x the 1x figure")
        print("targets: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in report["targets"].items()))
        print(f"figures written to {json_out}")
        if not ok:
            raise common.Failure(f"(b) and (c) differ: {why}")
    except common.Failure as exc:
        common.die(str(exc))


if __name__ == "__main__":
    typer.run(main)

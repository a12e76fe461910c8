"""Where each stage of the flow stands, one function per stage, by the Makefile's rules:
the discovery manifest, each VCF, each Parquet, then the modules (modstages.py: each
module's source, the hits, each module's inputs and tables), then the uploads, the
resources the steps used and the totals. collect() puts
them together into the one document that `status` prints and the page and the report
draw; each piece can be called on its own.

Never touches the network and never starts work (see status.py for the states).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import common
import config
import flow
import modstages
import outputs
from state import UP, Row, StepLog, iso, live_temp, lock_held, make_file_text, mtime, one_line, parquet_footer, \
    read_text

# The code of a step is a prerequisite of what it makes (Makefile CONVERTER).
CONVERTER = [common.ROOT / "scripts" / n for n in ("vcf2parquet.py", "vcftext.py")]


def step_log(cfg: dict) -> StepLog:
    """The species' step log and the modules', read once."""
    log = StepLog()
    log.read(common.step_log_path(cfg))
    modstages.read_logs(cfg, log)
    return log


# --- discovery ----------------------------------------------------------------------------

@dataclass
class Discovery:
    row: Row                                  # vcf_urls.json
    entries: list = field(default_factory=list)  # common.ManifestEntry, one per selected file
    listing_changed: bool = False
    base_url: str | None = None
    release: str | None = None


def manifest_stage(cfg: dict, log: StepLog) -> Discovery:
    """vcf_urls.json: rediscovered when discovery.key differs from the config's key (Make
    rewrites it at parse time) or is newer than the manifest."""
    urls = common.urls_json(cfg)
    keyfile = common.species_dir(cfg) / "discovery.key"
    man = Row(urls, "manifest", target=str(urls))
    man.step_records = log.records(urls, "discover")
    found = Discovery(man)
    if man.exists:
        key_now = make_file_text(keyfile)
        if key_now != config.discovery_key(cfg) or mtime(keyfile) > mtime(urls):
            found.listing_changed = True
            man.stale("listing changed")
    man.settle()
    try:
        found.entries = common.manifest(cfg) if man.exists else []
    except common.Failure as exc:
        man.state, man.error = "failed", str(exc)
    if found.entries:
        first = found.entries[0].url
        suffix = f"{cfg['species']}/{found.entries[0].name}"
        found.base_url = first[: -len(suffix)] if first.endswith(suffix) else first.rsplit("/", 2)[0] + "/"
        if m := re.search(r"release-(\d+)", first):
            found.release = m.group(1)
    return found


# --- download -----------------------------------------------------------------------------

def vcf_row(cfg: dict, e, log: StepLog, listing_changed: bool) -> Row:
    """One VCF: partial (.part, with the share of the size the server announced), running
    (a live fetch lock), stale when the listing or its CHECKSUMS line changed."""
    sdir = common.species_dir(cfg)
    v = Row(e.vcf, "vcf", common.file_label(str(cfg["species"]), e.stem), target=str(e.vcf))
    v.step_records = log.records(e.vcf, "fetch")
    stamp = sdir / "expected" / e.name
    stamp_text = (read_text(stamp) or "").strip()
    t_v, t_s = mtime(e.vcf), mtime(stamp)
    partfile = e.vcf.with_name(e.name + ".part")
    live = lock_held(Path(cfg["cache_dir"]) / "tmp" / "locks" / f"{e.name}.lock")
    if (t_part := mtime(partfile)) is not None or live:
        total, source = None, None
        try:
            total = json.loads(read_text(e.vcf.with_name(e.name + ".part.json")) or "{}").get("total")
            source = "server" if total else None
        except ValueError:
            pass
        if not total and re.fullmatch(r"\d+ \d+", stamp_text):
            total, source = int(stamp_text.split()[1]) * 1024, "CHECKSUMS blocks x 1024 (estimate)"
        size = os.stat(partfile).st_size if t_part is not None else 0
        v.progress = {"bytes": size, "total": total,
                      "percent": round(100 * size / total, 1) if total else None, "total_from": source}
        v.state = "running" if live else "partial"
        if v.state == "running" and t_part is None:
            v.progress = None if t_v is not None else v.progress
    if t_v is not None:
        if listing_changed:
            v.stale("listing changed")
        # expected/<name> is an intermediate file to Make (reached through a pattern
        # rule only): when it is absent, a present VCF is not remade.
        if t_s is not None and t_s > t_v:
            v.stale("CHECKSUMS changed")
    ok = [r for r in v.step_records if r.get("outcome") == "ok"]
    if ok and t_v is not None:
        v.checksum_verified = bool(ok[-1].get("checksum"))
    v.settle()
    return v


# --- convert ------------------------------------------------------------------------------

def parquet_row(cfg: dict, e, vcf: Row, log: StepLog, listing_changed: bool, sums: dict) -> Row:
    """One Parquet: stale when its VCF is remade or newer, or the converter changed; its
    rows, release and source checksum from the footer. ``sums``: CHECKSUMS, read on first
    use (a dict shared by the calls)."""
    p = Row(e.parquet, "parquet", vcf.partition, target=str(e.parquet))
    p.step_records = log.records(e.parquet, "vcf2parquet")
    if (tmp := live_temp(e.parquet)) is not None:
        p.state = "running"
        p.progress = {"bytes": os.stat(tmp).st_size if mtime(tmp) else 0, "total": None, "percent": None}
    elif lock_held(outputs.lock_path(cfg, e.parquet)):
        p.state = "running"  # a conversion holds the target's lock (not yet writing)
    t_p = mtime(e.parquet)
    if t_p is not None:
        if vcf.remade:
            p.stale("listing changed" if listing_changed else f"VCF {vcf.state}")
        elif (t_v := mtime(e.vcf)) > t_p:
            future = t_v > time.time_ns() + 2e9  # (vcf2parquet dates it now, with a warning)
            p.stale(f"VCF newer (dated in the future, {iso(t_v)})" if future else "VCF newer")
        if any((t_c := mtime(c)) is not None and t_c > t_p for c in CONVERTER):
            p.stale("converter changed")
        p.rows, kv = parquet_footer(e.parquet)
        if kv.get("source_checksum"):
            if "loaded" not in sums:
                import sumcheck

                sums.update(loaded=sumcheck.load_checksums(common.checksums_path(cfg)) or {})
            listed = sums["loaded"].get(e.name)
            p.checksum_verified = None if listed is None else str(listed) == kv["source_checksum"]
        p.extra["release"] = kv.get("ensembl_release")
    p.settle()
    if p.checksum_verified is False and p.state == UP:  # never published (upload.ensembl_files)
        p.state, p.error = "failed", (f"converted from a VCF that does not match CHECKSUMS; rebuild it with "
                                      f"`{outputs.rebuild_hint(e.parquet)}`")
    return p


# --- what is on disk beyond the rules: leftovers, damage ------------------------------------

def disk_checks(cfg: dict, rows: list[Row], log: StepLog) -> None:
    """For every row: the temporaries that dead processes left beside its file (removed by
    the next run of the target), and whether its bytes are known to differ from those
    written: its size against the size recorded then, or the last `make verify` (status
    itself reads no file's bytes). Such a file is failed, with the command that rebuilds it."""
    runs = log.records(common.vcf_dir(cfg), "verify")
    last = runs[-1] if runs else {}
    damaged = set(last.get("damaged") or [])
    for row in rows:
        for path, pid, alive in outputs.temporaries(row.path):
            if not alive:
                row.leftovers.append({"path": os.path.relpath(path, cfg["cache_dir"]), "pid": pid,
                                      "bytes": outputs.disk_bytes(path)})
        if row.state in ("running", "partial") or (t := mtime(row.path)) is None:
            continue
        entry = outputs.recorded(row.path)
        size = os.stat(row.path).st_size
        if entry and size != entry["bytes"]:
            row.state, row.error = "failed", (f"{size:,} bytes, {entry['bytes']:,} when it was written: damaged; "
                                              f"rebuild it with `{outputs.rebuild_hint(row.path)}`")
        elif str(row.path) in damaged and (last.get("time") or "") >= (iso(t) or ""):
            row.state, row.error = "failed", (f"`make verify` found its bytes differ from those written "
                                              f"({last.get('time')}); rebuild it with "
                                              f"`{outputs.rebuild_hint(row.path)}`")


# --- uploads, resources, totals -----------------------------------------------------------

def upload_entry(rec: dict, committed: dict | None, refused: dict | None = None) -> dict:
    """One Hub repo's last upload attempt (``rec``; a refusal when there was none), its
    last commit, and a refusal that came after it. ``state``: up to date or failed from
    the last attempt; "refused" (no attempt, nothing sent) when only refusals are known."""
    attempt = rec.get("outcome") != "refused"
    return {"repo": rec.get("repo") or str(rec.get("target", "")).removeprefix("datasets/"),
            "state": (UP if rec.get("outcome") == "ok" else "failed") if attempt else "refused",
            "refused": ({"time": refused.get("time"), "message": one_line(refused.get("message"))}
                        if refused else None),
            "kind": rec.get("kind") or str(rec.get("step", "")).removeprefix("upload-"),
            "time": rec.get("time"), "outcome": rec.get("outcome"),
            "commit": rec.get("commit"), "commit_url": rec.get("commit_url"),
            "uploaded": rec.get("uploaded") or [], "skipped": rec.get("skipped") or [],
            "deleted": rec.get("deleted") or [],
            "bytes_sent": rec.get("bytes_sent"), "error": one_line(rec.get("message")),
            "seconds": rec.get("seconds"),
            "last_commit": ({k: committed.get(k) for k in ("time", "commit", "commit_url")}
                            if committed else None)}


def uploads(log: StepLog) -> list[dict]:
    """The last upload per Hub repo, with its last commit and a later refusal."""
    out = []
    for repo in sorted({*log.uploads, *log.refusals}):
        refused = log.refusals.get(repo)
        rec = log.uploads.get(repo) or refused
        out.append(upload_entry(rec, log.commits.get(repo), refused))
    return out


def resources(rows: list[Row]) -> list[dict]:
    """Time, true peak RSS and rows of the step that built each present target."""
    out: list[dict] = []
    for r in rows:
        ok = [x for x in r.step_records if x.get("outcome") == "ok"]
        rec = ok[-1] if ok else None
        if rec is None or not r.exists:
            continue
        if any(x["step"] == rec.get("step") and x["target"] == rec.get("target") and x["time"] == rec.get("time")
               for x in out):
            continue  # a module's outputs share one build record
        secs = rec.get("seconds")
        nrows = rec.get("rows") or rec.get("ensembl_rows")
        out.append({"step": rec.get("step"), "target": rec.get("target"), "seconds": secs,
                    "peak_rss_bytes": rec.get("peak_rss_bytes"), "rows": nrows,
                    "rows_per_s": round(nrows / secs) if nrows and secs else None,
                    "bytes": rec.get("bytes"), "time": rec.get("time"), "outcome": rec.get("outcome"),
                    "stage": r.stage})
    return out


def totals(docs: list[dict], used: list[dict]) -> dict:
    present = [d for d in docs if d["size"] is not None]
    seconds_by_stage: dict[str, float] = {}
    for res in used:
        if res["seconds"] is not None:
            seconds_by_stage[res["stage"]] = round(seconds_by_stage.get(res["stage"], 0.0) + res["seconds"], 3)
    peak = max((res for res in used if res["peak_rss_bytes"]), key=lambda x: x["peak_rss_bytes"], default=None)
    return {"files": len(present), "bytes": sum(d["size"] for d in present),
            "rows": sum(d["rows"] or 0 for d in present),
            "seconds_by_stage": seconds_by_stage,
            "max_peak_rss": ({"bytes": peak["peak_rss_bytes"], "step": peak["step"],
                              "target": peak["target"]} if peak else None)}


# --- the whole picture --------------------------------------------------------------------

def collect(cfg: dict) -> dict:
    """Every stage, in the flow's order, as one JSON-ready document."""
    cache = Path(cfg["cache_dir"])
    log = step_log(cfg)
    found = manifest_stage(cfg, log)
    sums: dict = {}
    vcf_rows, pq_rows = [], []
    for e in found.entries:
        vcf_rows.append(vcf_row(cfg, e, log, found.listing_changed))
        pq_rows.append(parquet_row(cfg, e, vcf_rows[-1], log, found.listing_changed, sums))
    release = found.release or next((p.extra["release"] for p in pq_rows if p.extra.get("release")), None)
    rows = [found.row, *vcf_rows, *pq_rows, *modstages.module_rows(cfg, pq_rows, log)]
    disk_checks(cfg, rows, log)
    docs = [r.as_dict(cache) for r in rows]
    used = resources(rows)
    discover_ok = [x for x in found.row.step_records if x.get("outcome") == "ok"]
    doc = {
        "species": str(cfg["species"]),
        "cache_dir": str(cache),
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "up_to_date": all(d["state"] == UP for d in docs),
        "discovery": {"base_url": found.base_url, "release": release,
                      "discovered": (discover_ok[-1].get("time") if discover_ok else iso(mtime(found.row.path))),
                      "files": len(found.entries), "config_base_url": cfg["base_url"],
                      "listing_changed": found.listing_changed},
        "rows": docs,
        "modules": sorted({r["module"] for r in docs if r.get("module")}),
        "uploads": uploads(log),
        "resources": used,
        "totals": totals(docs, used),
    }
    doc["graph"] = flow.graph(doc)  # what the page draws: boxes and arrows of these rows
    return doc

"""Where the pipeline stands, from the files on disk and the step logs alone.

  python scripts/status.py            # one row per target, in pipeline order
  python scripts/status.py --json     # the same as one JSON document (for scripts and the UI)
  python scripts/status.py --check    # exit 0 when everything is up to date, 1 otherwise
  python scripts/status.py --watch    # redraw every --interval seconds (Ctrl-C stops)

Never touches the network and never starts work: the states are worked out from
vcf_urls.json, discovery.key, the expected/ stamps, CHECKSUMS, `.part` files, the fetch
locks, the step logs (steps.jsonl), file times and Parquet footers, by the same rules
as the Makefile, so "stale" means exactly what `make` would rebuild (same BASE_URL).
States: missing, partial, running, failed, stale (with the reason), up to date.
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import typer

import common
import config
import longevitymap  # light: the heavy libraries are imported inside its functions

UP = "up to date"
STAGES = ("manifest", "vcf", "parquet", "lm-source", "lm-inputs", "lm-table")
LM_MODULE = longevitymap.MODULE
LM_OUTPUTS = ("annotations.parquet", "studies.parquet", "weights.parquet", "unresolved.tsv", "conflicts.tsv")
CONVERTER = common.ROOT / "scripts" / "vcf2parquet.py"
LM_SCRIPT = common.ROOT / "scripts" / "longevitymap.py"
SQL_DIR = common.ROOT / "sql"
HISTORY = 5


# --- files ----------------------------------------------------------------------------

def mtime(path: Path) -> int | None:
    """Modification time in ns (what Make compares), None when the file is absent."""
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def iso(ns: int | float | None) -> str | None:
    if ns is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns / 1e9))


def read_text(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def make_file_text(path: Path) -> str | None:
    """What Make's $(file <path) gives: the content without one trailing newline."""
    text = read_text(path)
    return None if text is None else text.removesuffix("\n")


def lock_held(path: Path) -> bool:
    """True when another process holds a flock on ``path`` (a live fetch). Asks with a
    shared, non-blocking lock on a read-only handle, released at once; never creates it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_temp(path: Path) -> Path | None:
    """The temporary file of a running writer of ``path`` (common.temp_path_for names it
    .<name>.<pid>.tmp) whose process is alive, or None."""
    rx = re.compile(re.escape(f".{path.name}.") + r"(\d+)\.tmp")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return None
    for name in names:
        m = rx.fullmatch(name)
        if m and pid_alive(int(m.group(1))):
            return path.parent / name
    return None


# --- the step logs -------------------------------------------------------------------

def norm(target: str | Path) -> str:
    return os.path.normpath(str(target))


@dataclass
class StepLog:
    by_target: dict[str, list[dict]] = field(default_factory=dict)
    uploads: dict[str, dict] = field(default_factory=dict)  # repo -> latest upload record
    commits: dict[str, dict] = field(default_factory=dict)  # repo -> latest upload record with a commit

    def read(self, path: Path) -> None:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            return
        lines = [line for line in text.splitlines() if line.strip()]
        try:  # one parse for the whole log (fast); line by line when a line is torn
            records = json.loads("[" + ",".join(lines) + "]")
        except ValueError:
            records = []
            for line in lines:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue  # a torn or foreign line: skip it
        targets: dict[str, str] = {}
        for rec in records:
            if not isinstance(rec, dict) or "step" not in rec:
                continue
            step = str(rec.get("step"))
            if step.startswith("upload-"):
                repo = rec.get("repo") or str(rec.get("target", "")).removeprefix("datasets/")
                self.uploads[repo] = rec
                if rec.get("commit"):
                    self.commits[repo] = rec
                continue
            raw = str(rec.get("target", ""))
            if raw not in targets:
                targets[raw] = norm(raw)
            self.by_target.setdefault(targets[raw], []).append(rec)

    def records(self, target: str | Path, step: str | None = None) -> list[dict]:
        recs = self.by_target.get(norm(target), [])
        return [r for r in recs if step is None or r.get("step") == step]


def one_line(text: object) -> str | None:
    if text is None:
        return None
    lines = [s for s in str(text).strip().splitlines() if s.strip()]
    return lines[0].strip()[:300] if lines else None


# --- rows ------------------------------------------------------------------------------

@dataclass
class Row:
    path: Path
    stage: str
    partition: str | None = None
    target: str | None = None
    state: str = "missing"
    reasons: list[str] = field(default_factory=list)
    rows: int | None = None
    checksum_verified: bool | None = None
    error: str | None = None
    progress: dict | None = None
    step_records: list[dict] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return mtime(self.path) is not None

    @property
    def remade(self) -> bool:
        """Would Make (re)build this target?"""
        return self.state != UP

    def stale(self, reason: str) -> None:
        if reason not in self.reasons:
            self.reasons.append(reason)

    def settle(self) -> None:
        """From the collected reasons and the step log, the final state."""
        last = self.step_records[-1] if self.step_records else None
        if self.state in ("running", "partial"):
            if self.state == "partial" and last is not None and last.get("outcome") != "ok":
                self.error = one_line(last.get("message")) or last.get("outcome")
            return
        if self.exists:
            self.state = "stale" if self.reasons else UP
        else:
            self.state = "missing"
        if self.state != UP and last is not None and last.get("outcome") != "ok":
            # the last attempt failed (a failed build leaves no file, or an older one)
            when = last.get("time")
            built = iso(mtime(self.path))
            if not built or not when or when >= built:
                self.state = "failed"
                self.error = one_line(last.get("message")) or last.get("outcome")

    def as_dict(self, cache: Path) -> dict:
        st = None
        try:
            st = os.stat(self.path)
        except OSError:
            pass
        ok = [r for r in self.step_records if r.get("outcome") == "ok"]
        built_by = ok[-1] if ok else None
        rel = os.path.relpath(self.path, cache)
        return {
            "id": rel, "stage": self.stage, "partition": self.partition, "path": rel,
            "target": self.target, "state": self.state,
            "reason": ", ".join(self.reasons) if self.state in ("stale", "failed") and self.reasons else None,
            "size": st.st_size if st else None, "rows": self.rows,
            "built": iso(st.st_mtime_ns) if st else None,
            "seconds": built_by.get("seconds") if built_by and st else None,
            "peak_rss_bytes": built_by.get("peak_rss_bytes") if built_by and st else None,
            "checksum_verified": self.checksum_verified, "error": self.error,
            "progress": self.progress, "history": self.step_records[-HISTORY:],
            "release": self.extra.get("release"),
        }


def parquet_footer(path: Path) -> tuple[int | None, dict]:
    """Rows and key-value metadata from the footer only (no data pages read)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except Exception:  # noqa: BLE001 - an unreadable footer is reported, not fatal
        return None, {}
    kv = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in (meta.metadata or {}).items()
          if k != b"ARROW:schema"}
    return meta.num_rows, kv


# --- the LongevityMap rule -----------------------------------------------------------------

def lm_ensembl(cfg: dict, parquets: list[Path]) -> list[Path]:
    """LM_ENSEMBL: the files ENSEMBL_PARQUET matches ($(wildcard SRC SRC/*.parquet), .parquet
    only, relative to the project like Make's), else the species' Parquet targets."""
    src = str(cfg["ensembl_parquet"] or "")
    if not src:
        return parquets
    found: list[str] = []
    for pattern in src.split():
        for word in (pattern, f"{pattern}/*.parquet"):
            full = word if os.path.isabs(word) else str(common.ROOT / word)
            hits = sorted(glob.glob(full))
            found += [h if os.path.isabs(word) else os.path.relpath(h, common.ROOT) for h in hits]
    return [Path(os.path.abspath(common.ROOT / f)) for f in found if f.endswith(".parquet")]


def inputs_change(old: str | None, new: str) -> str:
    """Name what differs between two inputs.txt texts: "CURATOR changed", ..."""
    if old is None:
        return "inputs new"

    def fields(text: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for line in text.splitlines():
            if " = " in line and not line.startswith("#"):
                key, value = line.split(" = ", 1)
                out.setdefault(key, []).append(value)
        return out

    a, b = fields(old), fields(new)
    names = {"curator": "CURATOR changed", "method": "METHOD changed", "ensembl": "file list changed"}
    found = [names.get(k, f"{k} changed") for k in sorted(set(a) | set(b), key=lambda k: (k not in names, k))
             if a.get(k) != b.get(k)]
    return ", ".join(found) if found else "parameters changed"


def lm_rule(cfg: dict, ensembl: list[Row], parquets: list[Path], module: Path,
            log: StepLog) -> list[Row]:
    """The LongevityMap part of the Makefile, as rows: the SQLite (prerequisite: a local
    longevitymap_url file), inputs.txt (prerequisite: inputs.key, which Make rewrites at
    parse time when LM_PARAMS_KEY or the file list changed), and the tables (grouped
    target: SQLite, sql/*.sql, longevitymap.py, the Ensembl Parquet set, inputs.txt).
    Keep in step with the Makefile's longevitymap section."""
    sqlite = module / "longevitymap.sqlite"
    src = Row(sqlite, "lm-source", target=str(sqlite))
    src.step_records = log.records(sqlite, "longevitymap-fetch")
    url = str(cfg["longevitymap_url"])
    url_file = None
    if "://" not in url and url:
        url_file = Path(url) if os.path.isabs(url) else common.ROOT / url
        if mtime(url_file) is None:
            url_file = None
    if (t := mtime(sqlite)) is not None and url_file is not None and mtime(url_file) > t:
        src.stale("curation file newer")
    if live_temp(sqlite):
        src.state = "running"
    src.settle()

    # The map: <stem>.lm-hits.parquet per Parquet target (prerequisites: the Parquet, the
    # SQLite, sql/curated.sql, sql/lm_hits.sql, longevitymap.py). With LM_HITS=dir the
    # hits are made elsewhere: only that directory's files, no rule.
    hits_dir = os.environ.get("LM_HITS", "")
    hit_rows: list[Row] = []
    if not cfg["ensembl_parquet"] and not hits_dir:
        by_path = {norm(r.path): r for r in ensembl}
        for parquet in parquets:
            dest = module / "hits" / f"{parquet.stem}.lm-hits.parquet"
            row = Row(dest, "lm-hits", partition=by_path[norm(parquet)].partition if norm(parquet) in by_path
                      else None, target=str(dest))
            row.step_records = log.records(dest, "longevitymap-hits")
            if (t := mtime(dest)) is not None:
                for path, why, prow in [(parquet, "Parquet newer", by_path.get(norm(parquet))),
                                        (sqlite, "SQLite newer", src),
                                        (SQL_DIR / "curated.sql", "SQL changed", None),
                                        (SQL_DIR / "lm_hits.sql", "SQL changed", None),
                                        (LM_SCRIPT, "script changed", None)]:
                    if prow is not None and prow.remade:
                        row.stale(f"{'SQLite' if prow is src else 'Parquet'} {prow.state}")
                    elif (tp := mtime(path)) is None:
                        row.stale(f"{path.name} missing")
                    elif tp > t:
                        row.stale(why)
            if live_temp(dest):
                row.state = "running"
            row.settle()
            if row.exists:
                row.rows, _ = parquet_footer(dest)
            hit_rows.append(row)
        files = [r.path for r in hit_rows]
    elif hits_dir:
        files = sorted(Path(os.path.abspath(common.ROOT / hits_dir)).glob("*.lm-hits.parquet"))
    else:
        files = lm_ensembl(cfg, parquets)
    inputs = module / "inputs.txt"
    keyfile = module / "inputs.key"
    key = " ".join([config.lm_params_key(cfg), *(os.path.abspath(f) for f in files)])
    inp = Row(inputs, "lm-inputs", target=str(inputs))
    want = longevitymap.inputs_text(cfg, [str(f) for f in files])
    have = read_text(inputs)
    t_in, t_key = mtime(inputs), mtime(keyfile)
    if t_in is not None and (make_file_text(keyfile) != key or t_key is None or t_key > t_in):
        change = inputs_change(have, want)
        inp.stale("inputs.key missing" if t_key is None and change == "parameters changed" else change)
    inp.settle()

    rows_by_path = {norm(r.path): r for r in [*ensembl, *hit_rows]}
    outs = [Row(module / name, "lm-table", target=str(module / name)) for name in LM_OUTPUTS]
    build_log = log.records(module, "longevitymap")
    reasons: list[str] = []
    missing = [o for o in outs if not o.exists]
    if missing and len(missing) < len(outs):
        reasons.append("outputs incomplete")
    prereqs: list[tuple[Path, str, Row | None]] = [(sqlite, "SQLite newer", src)]
    prereqs += [(p, "SQL changed", None) for p in sorted(SQL_DIR.glob("*.sql"))]
    prereqs.append((LM_SCRIPT, "script changed", None))
    prereqs += [(f, "hits newer" if hit_rows else "Parquet newer", rows_by_path.get(norm(f))) for f in files]
    prereqs.append((inputs, None, inp))
    for path, why, row in prereqs:
        if row is not None and row.remade:
            # a prerequisite Make remakes first: the tables follow
            if row.stage == "lm-inputs" and row.state == "stale":
                reasons += row.reasons
            else:
                reasons.append(f"{ {'lm-source': 'SQLite', 'lm-inputs': 'inputs.txt', 'lm-hits': 'hits'}.get(row.stage, 'Parquet')} "
                               f"{row.state}")
            continue
        t = mtime(path)
        if t is None:
            reasons.append(f"{path.name} missing")
            continue
        for out in outs:
            if (to := mtime(out.path)) is not None and t > to and why:
                reasons.append(why)
                break
    reasons = list(dict.fromkeys(reasons))
    for out in outs:
        out.step_records = build_log
        if out.exists:
            out.reasons = list(reasons)
        out.settle()
        if out.state == UP and reasons:  # a grouped target: one stale output remakes them all
            out.state = "stale"
        if out.path.suffix == ".parquet" and out.exists:
            out.rows, _ = parquet_footer(out.path)
    return [src, *hit_rows, inp, *outs]


# --- the whole picture ----------------------------------------------------------------

def upload_entry(rec: dict, committed: dict | None) -> dict:
    return {"repo": rec.get("repo") or str(rec.get("target", "")).removeprefix("datasets/"),
            "kind": rec.get("kind") or str(rec.get("step", "")).removeprefix("upload-"),
            "time": rec.get("time"), "outcome": rec.get("outcome"),
            "commit": rec.get("commit"), "commit_url": rec.get("commit_url"),
            "uploaded": rec.get("uploaded") or [], "skipped": rec.get("skipped") or [],
            "bytes_sent": rec.get("bytes_sent"), "error": one_line(rec.get("message")),
            "seconds": rec.get("seconds"),
            "last_commit": ({k: committed.get(k) for k in ("time", "commit", "commit_url")}
                            if committed else None)}


def collect(cfg: dict) -> dict:
    cache = Path(cfg["cache_dir"])
    species = str(cfg["species"])
    sdir = common.species_dir(cfg)
    module = cache / "modules" / LM_MODULE
    log = StepLog()
    log.read(common.step_log_path(cfg))
    log.read(module / "steps.jsonl")
    locks = cache / "tmp" / "locks"

    # vcf_urls.json: rediscovered when discovery.key differs from the config's key
    # (Make rewrites it at parse time) or is newer than the manifest.
    urls = common.urls_json(cfg)
    keyfile = sdir / "discovery.key"
    man = Row(urls, "manifest", target=str(urls))
    man.step_records = log.records(urls, "discover")
    listing_changed = False
    if man.exists:
        key_now = make_file_text(keyfile)
        if key_now != config.discovery_key(cfg) or mtime(keyfile) > mtime(urls):
            listing_changed = True
            man.stale("listing changed")
    man.settle()
    try:
        entries = common.manifest(cfg) if man.exists else []
        bad_manifest = None
    except common.Failure as exc:
        entries, bad_manifest = [], str(exc)
    if bad_manifest:
        man.state, man.error = "failed", bad_manifest

    base_url = release = None
    if entries:
        first = entries[0].url
        suffix = f"{species}/{entries[0].name}"
        base_url = first[: -len(suffix)] if first.endswith(suffix) else first.rsplit("/", 2)[0] + "/"
        if m := re.search(r"release-(\d+)", first):
            release = m.group(1)

    vcf_rows, pq_rows = [], []
    sums = None
    for e in entries:
        part = common.file_label(species, e.stem)
        v = Row(e.vcf, "vcf", part, target=str(e.vcf))
        v.step_records = log.records(e.vcf, "fetch")
        stamp = sdir / "expected" / e.name
        stamp_text = (read_text(stamp) or "").strip()
        t_v, t_s = mtime(e.vcf), mtime(stamp)
        partfile = e.vcf.with_name(e.name + ".part")
        live = lock_held(locks / f"{e.name}.lock")
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
        vcf_rows.append(v)

        p = Row(e.parquet, "parquet", part, target=str(e.parquet))
        p.step_records = log.records(e.parquet, "vcf2parquet")
        if (tmp := live_temp(e.parquet)) is not None:
            p.state = "running"
            p.progress = {"bytes": os.stat(tmp).st_size if mtime(tmp) else 0, "total": None, "percent": None}
        t_p = mtime(e.parquet)
        if t_p is not None:
            if v.remade:
                p.stale("listing changed" if listing_changed else f"VCF {v.state}")
            elif t_v > t_p:
                p.stale("VCF newer")
            if (t_c := mtime(CONVERTER)) is not None and t_c > t_p:
                p.stale("converter changed")
            p.rows, kv = parquet_footer(e.parquet)
            if kv.get("ensembl_release"):
                release = release or kv["ensembl_release"]
            if kv.get("source_checksum"):
                if sums is None:
                    import sumcheck
                    sums = sumcheck.load_checksums(common.checksums_path(cfg)) or {}
                listed = sums.get(e.name)
                p.checksum_verified = None if listed is None else str(listed) == kv["source_checksum"]
            p.extra["release"] = kv.get("ensembl_release")
        p.settle()
        pq_rows.append(p)

    lm_rows = lm_rule(cfg, pq_rows, [e.parquet for e in entries], module, log)
    rows = [man, *vcf_rows, *pq_rows, *lm_rows]
    docs = [r.as_dict(cache) for r in rows]

    resources = []
    for r in rows:
        ok = [x for x in r.step_records if x.get("outcome") == "ok"]
        rec = ok[-1] if ok else None
        if rec is None or not r.exists:
            continue
        if any(x["step"] == rec.get("step") and x["target"] == rec.get("target") and x["time"] == rec.get("time")
               for x in resources):
            continue  # the LongevityMap tables share one build record
        secs = rec.get("seconds")
        nrows = rec.get("rows") or rec.get("ensembl_rows")
        resources.append({"step": rec.get("step"), "target": rec.get("target"), "seconds": secs,
                          "peak_rss_bytes": rec.get("peak_rss_bytes"), "rows": nrows,
                          "rows_per_s": round(nrows / secs) if nrows and secs else None,
                          "bytes": rec.get("bytes"), "time": rec.get("time"), "outcome": rec.get("outcome"),
                          "stage": r.stage})

    present = [d for d in docs if d["size"] is not None]
    seconds_by_stage: dict[str, float] = {}
    for res in resources:
        if res["seconds"] is not None:
            seconds_by_stage[res["stage"]] = round(seconds_by_stage.get(res["stage"], 0.0) + res["seconds"], 3)
    peak = max((res for res in resources if res["peak_rss_bytes"]), key=lambda x: x["peak_rss_bytes"],
               default=None)
    discover_ok = [x for x in man.step_records if x.get("outcome") == "ok"]
    return {
        "species": species,
        "cache_dir": str(cache),
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "up_to_date": all(d["state"] == UP for d in docs),
        "discovery": {"base_url": base_url, "release": release,
                      "discovered": (discover_ok[-1].get("time") if discover_ok else iso(mtime(urls))),
                      "files": len(entries), "config_base_url": cfg["base_url"],
                      "listing_changed": listing_changed},
        "rows": docs,
        "uploads": [upload_entry(rec, log.commits.get(repo)) for repo, rec in sorted(log.uploads.items())],
        "resources": resources,
        "totals": {"files": len(present), "bytes": sum(d["size"] for d in present),
                   "rows": sum(d["rows"] or 0 for d in present),
                   "seconds_by_stage": seconds_by_stage,
                   "max_peak_rss": ({"bytes": peak["peak_rss_bytes"], "step": peak["step"],
                                     "target": peak["target"]} if peak else None)},
    }


# --- text ---------------------------------------------------------------------------------

COLOURS = {UP: "32", "stale": "33", "missing": "2", "partial": "36", "running": "36;1", "failed": "31;1"}


def human(n: float | None) -> str:
    return "" if n is None else common.human_bytes(n)


def render(doc: dict, colour: bool) -> str:
    def paint(state: str, text: str) -> str:
        return f"\033[{COLOURS.get(state, '0')}m{text}\033[0m" if colour else text

    d = doc["discovery"]
    out = [f"{doc['species']} in {doc['cache_dir']}  ({doc['generated']})"]
    if d["base_url"]:
        out.append(f"listing: {d['base_url']}  release {d['release'] or '?'}, {d['files']} file(s), "
                   f"discovered {d['discovered'] or '?'}")
    width = max((len(r["id"]) for r in doc["rows"]), default=10)
    out.append(f"{'TARGET':<{width}}  {'STATE':<10} {'SIZE':>10} {'ROWS':>12} {'BUILT':<20} {'SECONDS':>8} "
               f"{'PEAK RSS':>10}  NOTE")
    for r in doc["rows"]:
        note = []
        if r["reason"]:
            note.append(r["reason"])
        if r["progress"]:
            p = r["progress"]
            note.append(f"{human(p['bytes'])}" + (f" of {human(p['total'])} ({p['percent']}%)" if p["total"] else ""))
        if r["error"]:
            note.append(r["error"])
        if r["checksum_verified"] is True:
            note.append("checksum OK")
        elif r["checksum_verified"] is False and r["stage"] == "vcf":
            note.append("size checked only")
        elif r["checksum_verified"] is False:
            note.append("checksum differs from CHECKSUMS")
        secs = "" if r["seconds"] is None else f"{r['seconds']:.1f}"
        rows = "" if r["rows"] is None else f"{r['rows']:,}"
        state = paint(r["state"], f"{r['state']:<10}")
        out.append(f"{r['id']:<{width}}  {state} {human(r['size']):>10} "
                   f"{rows:>12} {(r['built'] or ''):<20} {secs:>8} {human(r['peak_rss_bytes']):>10}  "
                   + "; ".join(note))
    t = doc["totals"]
    counts: dict[str, int] = {}
    for r in doc["rows"]:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    out.append("")
    out.append("states: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    out.append(f"totals: {t['files']} files, {human(t['bytes'])}, {t['rows']:,} rows; seconds by stage: "
               + (", ".join(f"{s} {v:.1f}" for s, v in t["seconds_by_stage"].items()) or "-"))
    if t["max_peak_rss"]:
        m = t["max_peak_rss"]
        out.append(f"largest peak RSS: {human(m['bytes'])} ({m['step']} {os.path.basename(m['target'])})")
    for u in doc["uploads"]:
        line = f"last upload to {u['repo']} ({u['kind']}): {u['time']} {u['outcome']}"
        if u["commit"]:
            line += f", commit {u['commit'][:7]} {u['commit_url'] or ''}".rstrip()
        elif u["outcome"] == "ok":
            line += ", no commit (nothing changed)"
            if u["last_commit"]:
                line += f"; last commit {u['last_commit']['commit'][:7]} at {u['last_commit']['time']}"
        line += (f"; {len(u['uploaded'])} uploaded, {len(u['skipped'])} skipped, "
                 f"{human(u['bytes_sent'] or 0)} sent")
        if u["error"]:
            line += f"; error: {u['error']}"
        out.append(line)
    if not doc["uploads"]:
        out.append("no upload recorded")
    out.append("everything is up to date" if doc["up_to_date"] else "not up to date: `make` would rebuild the "
               "targets not marked up to date")
    return "\n".join(out)


def main(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document (see README)."),
    check: bool = typer.Option(False, "--check", help="Exit 0 when every target is up to date, 1 otherwise."),
    watch: bool = typer.Option(False, "--watch", help="Redraw every --interval seconds until Ctrl-C."),
    interval: float = typer.Option(2.0, min=0.2, help="Seconds between redraws with --watch."),
) -> None:
    """Show each target's state (missing, partial, running, failed, stale, up to date)."""
    cfg = common.load_config()
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    try:
        while True:
            with common.exit_on_failure(cfg["cache_dir"]):
                doc = collect(cfg)
            if as_json:
                text = json.dumps(doc, indent=1)
            else:
                text = render(doc, colour)
            if watch and sys.stdout.isatty():
                sys.stdout.write("\033[H\033[2J")
            print(text, flush=True)
            if not watch:
                break
            if not sys.stdout.isatty():
                print(flush=True)
            time.sleep(interval)
    except KeyboardInterrupt:
        raise typer.Exit(130)
    if check and not doc["up_to_date"]:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)

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

The work is done by stages.py (one function per stage of the flow, built on state.py);
this file prints it.
"""

from __future__ import annotations

import json
import os
import sys
import time

import typer

import common
from stages import collect
from state import UP


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
        if r["leftovers"]:
            n = len(r["leftovers"])
            note.append(f"{n} temporar{'y' if n == 1 else 'ies'} of a dead process "
                        f"({human(sum(x['bytes'] for x in r['leftovers']))}), removed by its next run")
        if r["checksum_verified"] is True:
            note.append("checksum OK" if r["stage"] == "vcf" else "from a VCF matching CHECKSUMS")
        elif r["checksum_verified"] is False and r["stage"] == "vcf":
            note.append("size checked only")
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
        if u["state"] == "refused":
            out.append(f"upload to {u['repo']} ({u['kind']}) refused at {u['time']}, nothing sent: "
                       f"{u['refused']['message']}")
            continue
        line = f"last upload to {u['repo']} ({u['kind']}): {u['time']} {u['outcome']}"
        if u["commit"]:
            line += f", commit {u['commit'][:7]} {u['commit_url'] or ''}".rstrip()
        elif u["outcome"] == "ok":
            line += ", no commit (nothing changed)"
            if u["last_commit"]:
                line += f"; last commit {u['last_commit']['commit'][:7]} at {u['last_commit']['time']}"
        line += (f"; {len(u['uploaded'])} uploaded, {len(u['skipped'])} skipped, "
                 + (f"{len(u['deleted'])} deleted, " if u.get("deleted") else "")
                 + f"{human(u['bytes_sent'] or 0)} sent")
        if u["error"]:
            line += f"; error: {u['error']}"
        if u["refused"]:
            line += f"; then refused at {u['refused']['time']}, nothing sent: {u['refused']['message']}"
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

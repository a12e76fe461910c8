"""Where the annotation modules stand, by the Makefile's modules section, one function per
stage: each module's source, the hits of each Parquet file (the map, for every module of
the set), each module's inputs.txt and its outputs (one grouped target: a stale output
remakes them all). Keep in step with the Makefile; stages.py puts these rows after the
Parquet rows. Rows carry their module in extra["module"]; a table row's partition is
"<module>/<file>" (one cell per module table on the page).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import common
import config
import moduledef
from moduledef import Module
from state import UP, Row, StepLog, live_temp, make_file_text, mtime, norm, parquet_footer, read_text

HITS_CODE = [common.ROOT / "scripts" / n for n in ("modules.py", "modbuild.py", "moduledef.py", "modsource.py",
                                                    "ensembl_set.py", "duck.py")]
MODULE_CODE = [*HITS_CODE, common.ROOT / "scripts" / "modcard.py"]
NAMES = {"module-source": "source", "module-inputs": "inputs.txt", "module-hits": "hits"}


def read_logs(cfg: dict, log: StepLog) -> None:
    """The modules' step logs: the shared one (hits, uploads) and each module's."""
    shared = moduledef.hits_log(cfg)
    log.read(shared)
    for path in sorted(shared.parent.glob("*/steps.jsonl")):
        log.read(path)


def ensembl_list(cfg: dict, parquets: list[Path]) -> list[Path]:
    """MOD_ENSEMBL: the files ENSEMBL_PARQUET matches ($(wildcard SRC SRC/*.parquet), .parquet
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
    names = {"curator": "CURATOR changed", "method": "METHOD changed", "version": "version changed",
             "ensembl": "file list changed"}
    found = [names.get(k, f"{k} changed") for k in sorted(set(a) | set(b), key=lambda k: (k not in names, k))
             if a.get(k) != b.get(k)]
    return ", ".join(found) if found else "parameters changed"


def newer(row: Row, prereqs: list[tuple[Path, str, Row | None]]) -> None:
    """Stale reasons of ``row`` from its prerequisites: (path, why, the path's own row or None)."""
    t = mtime(row.path)
    if t is None:
        return
    for path, why, prow in prereqs:
        if prow is not None and prow.remade:
            row.stale(f"{NAMES.get(prow.stage, 'Parquet')} {prow.state}")
        elif (tp := mtime(path)) is None:
            row.stale(f"{path.name} missing")
        elif tp > t:
            row.stale(why)


def source_row(cfg: dict, module: Module, log: StepLog) -> Row:
    """A module's source (prerequisites: source.key, a local <module>_url file)."""
    path = module.source_path(cfg)
    row = Row(path, "module-source", partition=module.name, target=str(path), extra={"module": module.name})
    row.step_records = log.records(path, f"{module.name}-fetch")
    keyfile = module.dir(cfg) / "source.key"
    url = module.url(cfg)
    local = None if "://" in url else (Path(url) if os.path.isabs(url) else common.ROOT / url)
    if (t := mtime(path)) is not None:
        if make_file_text(keyfile) not in (None, config.source_key(cfg, module.name)) or (mtime(keyfile) or 0) > t:
            row.stale("source or logo setting changed")
        if local is not None and (mtime(local) or 0) > t:
            row.stale("curation file newer")
    if live_temp(path):
        row.state = "running"
    row.settle()
    return row


def hits_rows(cfg: dict, chosen: list[Module], sources: dict[str, Row], parquets: list[Row],
              log: StepLog) -> list[Row]:
    """The map: <stem>.hits.parquet per Parquet target (prerequisites: the Parquet, modules.key,
    each set module (``chosen``)'s source and folder, sql/claims.sql, sql/hits.sql, the code)."""
    hdir = moduledef.hits_dir(cfg)
    keyfile = hdir / "modules.key"
    prereqs: list[tuple[Path, str, Row | None]] = [(keyfile, "module set changed", None)]
    for m in chosen:
        prereqs.append((sources[m.name].path, f"{m.name} source newer", sources[m.name]))
        prereqs += [(p, f"{m.name} SQL changed", None) for p in m.code()]
    prereqs += [(config.SQL_DIR / n, "SQL changed", None) for n in ("claims.sql", "hits.sql")]
    prereqs += [(p, "script changed", None) for p in HITS_CODE]
    set_changed = make_file_text(keyfile) not in (None, str(cfg["modules"]))
    rows = []
    for parquet in parquets:
        dest = hdir / f"{parquet.path.stem}.hits.parquet"
        row = Row(dest, "module-hits", partition=parquet.partition, target=str(dest))
        row.step_records = log.records(dest, "modules-hits")
        newer(row, [(parquet.path, "Parquet newer", parquet), *prereqs])
        if set_changed and row.exists:
            row.stale("module set changed")
        if live_temp(dest):
            row.state = "running"
        row.settle()
        if row.exists:
            row.rows, _ = parquet_footer(dest)
        rows.append(row)
    return rows


def inputs_row(cfg: dict, module: Module, files: list[Path]) -> Row:
    """inputs.txt (prerequisite: inputs.key, which Make rewrites at parse time when the
    module's parameters or the file list changed)."""
    path = module.dir(cfg) / "inputs.txt"
    keyfile = module.dir(cfg) / "inputs.key"
    key = " ".join([config.params_key(cfg, module.name), *(os.path.abspath(f) for f in files)])
    row = Row(path, "module-inputs", partition=module.name, target=str(path), extra={"module": module.name})
    try:
        want = moduledef.inputs_text(cfg, module, [str(f) for f in files])
    except common.Failure as exc:
        want, row.error = "", str(exc)
    t_in, t_key = mtime(path), mtime(keyfile)
    if t_in is not None and (make_file_text(keyfile) != key or t_key is None or t_key > t_in):
        change = inputs_change(read_text(path), want)
        row.stale("inputs.key missing" if t_key is None and change == "parameters changed" else change)
    row.settle()
    return row


def table_rows(cfg: dict, module: Module, src: Row, inp: Row, files: list[Path], from_hits: bool,
               rows_by_path: dict[str, Row], log: StepLog) -> list[Row]:
    """The outputs: one grouped target (source, the module's folder, sql/*.sql, the code, the
    Ensembl files or hits, inputs.txt); one stale output remakes them all."""
    folder = module.dir(cfg)
    outs = [Row(folder / name, "module-table", partition=f"{module.name}/{name}", target=str(folder / name),
                extra={"module": module.name}) for name in moduledef.OUTPUTS]
    reasons: list[str] = []
    if any(not o.exists for o in outs) and not all(not o.exists for o in outs):
        reasons.append("outputs incomplete")
    prereqs: list[tuple[Path, str | None, Row | None]] = [(src.path, "source newer", src)]
    prereqs += [(p, "SQL changed", None) for p in [*sorted(config.SQL_DIR.glob("*.sql")), *module.code()]]
    prereqs += [(code, "script changed", None) for code in MODULE_CODE]
    prereqs += [(f, "hits newer" if from_hits else "Parquet newer", rows_by_path.get(norm(f))) for f in files]
    prereqs.append((inp.path, None, inp))
    oldest = min((t for out in outs if (t := mtime(out.path)) is not None), default=None)
    for path, why, row in prereqs:
        if row is not None and row.remade:  # a prerequisite Make remakes first: the tables follow
            reasons += row.reasons if row.stage == "module-inputs" and row.state == "stale" else \
                [f"{NAMES.get(row.stage, 'Parquet')} {row.state}"]
            continue
        t = mtime(path)
        if t is None:
            reasons.append(f"{path.name} missing")
        elif why and oldest is not None and t > oldest:
            reasons.append(why)
    reasons = list(dict.fromkeys(reasons))
    build_log = log.records(folder, module.name)
    for out in outs:
        out.step_records = build_log
        if out.exists:
            out.reasons = list(reasons)
        out.settle()
        if out.state == UP and reasons:
            out.state = "stale"
        if out.path.suffix == ".parquet" and out.exists:
            out.rows, _ = parquet_footer(out.path)
    return outs


def module_rows(cfg: dict, parquets: list[Row], log: StepLog) -> list[Row]:
    """The modules part of the Makefile, as rows: each module's source, the hits (unless the
    tables read ENSEMBL_PARQUET or MODULE_HITS=dir, made elsewhere: no rule), then each
    module's inputs and outputs. A species no module curates: no rows (nothing to build)."""
    selected = moduledef.selected(cfg)
    chosen = [m for m in selected if str(cfg["species"]) in m.species]
    if not chosen:
        return []
    sources = {m.name: source_row(cfg, m, log) for m in selected}
    hits_dir = os.environ.get("MODULE_HITS") or os.environ.get("LM_HITS") or ""
    hit_rows: list[Row] = []
    if not cfg["ensembl_parquet"] and not hits_dir:
        hit_rows = hits_rows(cfg, selected, sources, parquets, log)
        files = [r.path for r in hit_rows]
    elif hits_dir:
        files = sorted(Path(os.path.abspath(common.ROOT / hits_dir)).glob("*.hits.parquet"))
    else:
        files = ensembl_list(cfg, [r.path for r in parquets])
    rows_by_path = {norm(r.path): r for r in [*parquets, *hit_rows]}
    out = [*(sources[m.name] for m in chosen), *hit_rows]
    for m in chosen:
        inp = inputs_row(cfg, m, files)
        out += [inp, *table_rows(cfg, m, sources[m.name], inp, files, bool(hit_rows), rows_by_path, log)]
    return out

"""The annotation modules, one runner for all: each module is a folder sql/modules/<name>/
(module.toml + SQL, see docs/adding-a-module.md); this script runs its steps.

    python scripts/modules.py fetch MODULE        # its source (and logo) -> <cache>/modules/MODULE/
    python scripts/modules.py hits PARQUET DEST   # the map: PARQUET's records of every module's rsids
    python scripts/modules.py inputs MODULE [F..] # file list and parameters -> inputs.txt (when changed)
    python scripts/modules.py build MODULE [F..]  # tables, sources, manifest, metadata, reports

`fetch` downloads the source (resumable, see fetch.py) or copies a local path, checks it
(SQLite magic and the tables and columns module.toml names, or the TSV's header) and only
then renames it into place; the logo likewise (a PNG or JPEG). `hits` writes one Ensembl
Parquet file's records of the curated rsids of every module of the set (config modules),
so one map step serves all modules. `build` runs the module's SQL against the hits files
(or an Ensembl Parquet set), runs the checks, and writes annotations, studies, weights and
sources.parquet, manifest.json, metadata.yaml, unresolved.tsv and conflicts.tsv, all
through temporary names: on failure none is left, and those of an earlier run are removed
too. Every step refuses a species the module has no curation for, before writing.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import typer

import common
import duck
import modcard
import moduledef
import modsource
import outputs
from common import Failure
from ensembl_set import ensembl_files, ensembl_rows
from moduledef import Module

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
MODULE_ARG = typer.Argument(..., help="The module: a folder name of sql/modules/")
FILES_ARG = typer.Argument(None, help="Ensembl Parquet files or hits files (Make passes the set it tracks)")


def resolve_files(cfg: dict, files: list[Path] | None, ensembl: str | None, check: bool = True) -> list[str]:
    """The Ensembl set: ``files`` when given (Make passes the ones it tracks), else
    ``ensembl`` / config ensembl_parquet / the species' files."""
    if not files:
        return ensembl_files(cfg, ensembl)
    if check:
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise Failure(f"{missing[0]}: no such Ensembl Parquet or hits file")
    return [str(f) for f in files]


def provenance(cfg: dict, module: Module, source: Path) -> dict:
    """Where the source came from, for sources.parquet: its URL (a local path is named by
    its file name only), SHA-256, commit when known, and a dataset label."""
    url = module.url(cfg)
    sha = outputs.sha256_file(source)[1]
    commit = module.commit(cfg)
    return {"source_url": f"file:{local[0].name}" if (local := modsource.local_files(url)) else url,
            "source_sha256": sha, "source_commit": commit,
            "dataset": f"{module.source['file']}@{commit[:12]}" if commit else f"{module.source['file']} sha256:{sha[:12]}"}


def credits_table(cfg: dict, module: Module, source: Path):
    """sources.parquet (sql/sources.sql) from module.toml's [[credits]] and the provenance."""
    import pyarrow as pa

    con = duck.connect(cfg)
    try:
        fields = ("source", "license", "license_url", "attribution", "notice", "citation")
        flags = ("share_alike", "commercial_use", "redistribution")
        rows = module.meta["credits"]
        con.register("credits", pa.table({**{f: pa.array([r.get(f) for r in rows], pa.string()) for f in fields},
                                          **{f: pa.array([r.get(f) for r in rows], pa.bool_()) for f in flags}}))
        return duck.run_sql(con, module.sql("sources"), {**module.params(cfg), **provenance(cfg, module, source)})
    finally:
        con.close()


def remove_outputs(out_dir: Path) -> None:
    for name in moduledef.OUTPUTS:
        (out_dir / name).unlink(missing_ok=True)


def summary(module: Module, results: dict, facts: dict, seconds: float) -> str:
    reasons = Counter(results["unresolved.tsv"].column("reason").to_pylist())
    clashes = Counter(results["conflicts.tsv"].column("reason").to_pylist())
    modes = ", ".join(f"{n} {m}" for m, n in facts["claims_by_mode"].items())
    lines = [f"{module.name}: {facts['source_rows']} source rows -> {facts['claims']} claims ({modes}; "
             f"{facts['curated_rsids']} rsids) against {facts['ensembl_rows']:,} Ensembl rows in "
             f"{facts['ensembl_files']} file(s) ({facts['ensembl_hits']} records of curated rsids) in {seconds:.1f} s"]
    for name, table in results.items():
        lines.append(f"  {name:<20} {table.num_rows:>7} rows")
    lines.append(f"  claims published (in weights, or merged into a weights row): {facts['published_claims']}; "
                 f"in unresolved.tsv: {results['unresolved.tsv'].num_rows}; merged: {facts['merged_rows']}")
    if reasons:
        lines.append("  unresolved by reason: " + ", ".join(f"{r} {n}" for r, n in reasons.most_common()))
    if clashes:
        lines.append("  conflicts.tsv rows by reason: " + ", ".join(f"{r} {n}" for r, n in clashes.most_common()))
    return "\n".join(lines)


# --- the steps (one function each) ------------------------------------------------------------

def fetch_step(cfg: dict, module: Module) -> dict:
    """The module's logo (if any) and source into <cache>/modules/<name>/: fetched or copied,
    checked, renamed into place (the source last, so it is the newer of the two)."""
    record: dict = {}
    setting = module.logo_setting(cfg)
    keep = None
    if setting:
        keep = module.dir(cfg) / f"logo.{modsource.logo_extension(setting)}"
        record["logo"] = modsource.fetch_to(setting, keep, cfg, modsource.check_logo, f"{module.name}_logo")
    moduledef.drop_other_logos(module.dir(cfg), keep.name if keep else None)
    source = module.url(cfg)
    record.update(source=source, **modsource.fetch_to(
        source, module.source_path(cfg), cfg, lambda p, label: modsource.check(module, p, label), f"{module.name}_url"))
    record["written"] = {module.source_path(cfg): {k: record[k] for k in ("bytes", "sha256")}}
    if keep is not None:
        record["written"][keep] = {k: record["logo"][k] for k in ("bytes", "sha256")}
    return record


def hits_step(cfg: dict, modules: list[Module], parquet: Path, dest: Path) -> tuple[int, int, dict]:
    """The map step for every module of the set (``modules``): (hits, rows of the Parquet
    file, {dest: its size and SHA-256})."""
    import modbuild

    sources = [(m, m.source_path(cfg)) for m in modules]
    missing = [str(p) for _, p in sources if not p.is_file()]
    if missing:
        raise Failure(f"{', '.join(missing)}: missing; run `make {' '.join(missing)}` first")
    if not parquet.is_file():
        raise Failure(f"{parquet}: no such Ensembl Parquet file")
    table, rows = modbuild.make_hits(cfg, sources, str(parquet))
    outputs.hold("hits-write")
    return table.num_rows, rows, duck.write_outputs(dest.parent, {dest.name: table})


def build_step(cfg: dict, module: Module, paths: list[str], source: Path) -> tuple[dict, dict, dict]:
    """The tables and everything beside them, checked, written together: (results, facts,
    {path: size and SHA-256} of what was written)."""
    import modbuild

    results, facts = modbuild.build_tables(cfg, module, source, paths)
    modbuild.check(cfg, module, results, facts)
    facts["ensembl_rows"] = ensembl_rows(paths)
    results["sources.parquet"] = credits_table(cfg, module, source)
    logo = module.logo_file(cfg)

    def finish(temps: dict[str, Path]) -> dict[str, bytes]:
        tables = {name: temps[name] for name in moduledef.ARTIFACT}
        return {"manifest.json": modcard.manifest(module, cfg, tables, logo),
                "metadata.yaml": modcard.metadata(module, cfg, logo)}

    outputs.hold("module-build")
    return results, facts, duck.write_outputs(module.dir(cfg), results, finish, hold="module-commit")


# --- commands ----------------------------------------------------------------------------------

@app.command()
def fetch(name: str = MODULE_ARG) -> None:
    """Fetch (or copy) the module's source and logo into <cache>/modules/<name>/ (config <name>_url, <name>_logo)."""
    cfg = common.load_config()
    with common.exit_on_failure(name):
        module = moduledef.get(name)
        moduledef.refuse_species(cfg, [module])
        dest, log = module.source_path(cfg), module.log_path(cfg)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with outputs.guarded(cfg, dest, f"{dest}: interrupted; nothing fetched",
                             inputs=modsource.local_files(module.url(cfg))) as made:
            if made:
                common.say(f"{dest.name}: made meanwhile by another process; nothing to do")
                return
            with common.step(log, f"{name}-fetch", dest) as rec:
                rec.update(fetch_step(cfg, module))
                rec["written"] = outputs.written(log, rec["written"])
    common.say(f"{dest}: {common.human_bytes(dest.stat().st_size)} from {module.url(cfg)}")


@app.command()
def inputs(name: str = MODULE_ARG, files: list[Path] = FILES_ARG,
           ensembl: str = typer.Option(None, help="Ensembl Parquet path, directory or glob, when no FILES are given")) -> None:
    """Record the Ensembl file list and the parameters in <cache>/modules/<name>/inputs.txt, rewriting it
    only when they changed."""
    cfg = common.load_config()
    with common.exit_on_failure(name):
        module = moduledef.get(name)
        moduledef.refuse_species(cfg, [module])
        path = module.dir(cfg) / "inputs.txt"
        text = moduledef.inputs_text(cfg, module, resolve_files(cfg, files, ensembl, check=False))
        existed = path.exists()
        if common.atomic_write(path, text.encode(), only_if_changed=True):
            common.say(f"{path}: {'changed' if existed else 'written'}; the tables will be rebuilt")


@app.command()
def hits(parquet: Path = typer.Argument(..., help="One Ensembl Parquet file"),
         dest: Path = typer.Argument(..., help="The hits file to write (<stem>.hits.parquet)")) -> None:
    """The map step: write PARQUET's records of the curated rsids of every module of the set to DEST
    (small; `build` given the hits files of a set makes the same tables as given the set)."""
    cfg = common.load_config()
    log = moduledef.hits_log(cfg)
    with common.exit_on_failure(dest):
        modules = moduledef.selected(cfg)
        moduledef.refuse_species(cfg, modules)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with common.exit_on_failure(dest), \
            outputs.guarded(cfg, dest, f"{dest}: interrupted; no hits file written",
                            inputs=[parquet, *(m.source_path(cfg) for m in modules)]) as made:
        if made:
            common.say(f"{dest.name}: made meanwhile by another process; nothing to do")
            return
        with common.step(log, "modules-hits", dest) as rec:
            found, rows, digests = hits_step(cfg, modules, parquet, dest)
            rec.update(rows=rows, hits=found, bytes=digests[dest]["bytes"], modules=cfg["modules"],
                       written=outputs.written(log, digests))
    common.say(f"{dest}: {found} record(s) of curated rsids in {rows:,} rows of {parquet.name}")


@app.command()
def build(name: str = MODULE_ARG, files: list[Path] = FILES_ARG,
          source: Path = typer.Option(None, help="The module's source file (default: the fetched one)"),
          ensembl: str = typer.Option(None, help="Ensembl Parquet path, directory or glob, when no FILES are given "
                                                 "(default: config ensembl_parquet, else the species' Parquet files)")) -> None:
    """Build the module: annotations, studies, weights and sources.parquet, manifest.json, metadata.yaml,
    unresolved.tsv and conflicts.tsv in <cache>/modules/<name>/."""
    cfg = common.load_config()
    t0 = time.perf_counter()
    with common.exit_on_failure(name):
        module = moduledef.get(name)
        moduledef.refuse_species(cfg, [module])
    out_dir, log = module.dir(cfg), module.log_path(cfg)
    source = source or module.source_path(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with outputs.guarded(cfg, out_dir, f"{name}: interrupted; no table written (earlier ones removed)",
                             [out_dir / n for n in moduledef.OUTPUTS],
                             inputs=[source, out_dir / "inputs.txt", *(files or [])]) as made:
            if made:
                common.say(f"{name}: the tables were made meanwhile by another process; nothing to do")
                return
            outputs.call_on_stop(lambda: remove_outputs(out_dir))
            with common.step(log, name, out_dir) as rec:
                if not source.exists():
                    raise Failure(f"{source}: missing; run `make {name}` (or `modules.py fetch {name}`) first")
                paths = resolve_files(cfg, files, ensembl)
                results, facts, digests = build_step(cfg, module, paths, source)
                rec.update(facts)
                rec.update({n.split(".")[0] + "_rows": t.num_rows for n, t in results.items()})
                rec["unresolved_by_reason"] = dict(Counter(results["unresolved.tsv"].column("reason").to_pylist()))
                rec["conflicts_by_reason"] = dict(Counter(results["conflicts.tsv"].column("reason").to_pylist()))
                rec["written"] = outputs.written(log, digests)
    except BaseException as exc:  # noqa: BLE001 - whatever the cause, no output is left
        remove_outputs(out_dir)
        if isinstance(exc, Failure):
            common.die(str(exc))
        if isinstance(exc, OSError):
            common.die(f"{exc.filename or out_dir}: {exc.strerror or exc}")
        raise
    print(summary(module, results, facts, time.perf_counter() - t0))


if __name__ == "__main__":
    app()

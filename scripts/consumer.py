"""Lay out the prepared data the way just-dna-lite reads it, to use it without the Hub.

    python scripts/consumer.py layout      # (make consumer-layout)

Under <cache>/just-dna-lite/<species>/ (ours, rewritten by each run):

    ensembl_variations/data/<species>-*.parquet   the species' published Parquet set
    modules/<module>/                             for each built module of the set: annotations,
                                                  studies, weights, sources.parquet, manifest.json,
                                                  metadata.yaml, logo.<ext>

and under the consumer's own directory <consumer_dir>/<species>/ (config consumer_dir,
default <cache_dir>-consumer; outside our cache, since just-dna-lite writes its state
beside its data: ensembl_variations.duckdb, module_cache.version):

    ensembl_variations/data -> the data directory above (a symbolic link)
    modules.yaml                                  just-dna-lite's working copy: only our keys
                                                  (the local modules source, the modules'
                                                  display metadata, ensembl_source), which it
                                                  merges over its own shipped modules.yaml

just-dna-lite (module_config at dna-seq/just-dna-lite 88f0e0e) takes its shipped settings
from <JUST_DNA_PIPELINES_ROOT>/modules.yaml, else from its checkout or package, and merges
the working copy JUST_DNA_MODULES_YAML names over them (sources by url, module_metadata by
name, registries by key; other keys replaced). So its quality filters, registries and
other settings stay its own, and our source is added to its sources. The working copy is
also where it records modules you register: a run keeps what is there and updates only
our entries. Its Ensembl cache is JUST_DNA_PIPELINES_CACHE_DIR/ensembl_variations.

Parquet files are hard links to the pipeline's files (copies where a link cannot be
made), so the layout costs no space; run it again after `make parquet` or
`make modules` (a rebuilt file is a new file, the layout keeps the old one until
then). The set is the discovery manifest's files that exist; Parquet files in the
layout's data directory that are not in the set are removed, because the consumer reads
every *.parquet there as one set. A module is laid out for the species it curates (all
six: homo_sapiens) when it is built; a module folder of an earlier layout whose module
is not built (or not in the set) is removed. Prints the environment lines for just-dna-lite
(stdout, so `eval "$(make -s consumer-layout)"` applies them).
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import typer

import common
import hubclient
import moduledef
from common import Failure, say

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@app.callback()
def main() -> None:
    """(keeps `layout` a sub-command, with room for more)"""


def layout_root(cfg: dict) -> Path:
    return Path(cfg["cache_dir"]) / "just-dna-lite" / common.check_name(str(cfg["species"]), "species")


def place(src: Path, dest: Path) -> str:
    """dest becomes a hard link to src (a copy when linking fails, e.g. across file
    systems), through a temporary name and a rename. Returns linked/copied/kept."""
    if dest.exists() and os.path.samefile(src, dest):
        return "kept"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = common.temp_path_for(dest)
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(src, tmp)
            how = "linked"
        except OSError:
            shutil.copy2(src, tmp)
            how = "copied"
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return how


def ensembl_set(cfg: dict) -> tuple[list[Path], list[str]]:
    """(the Parquet files of the discovery manifest that exist, the names still missing)."""
    entries = common.manifest(cfg)
    present = [e.parquet for e in entries if e.parquet.is_file()]
    missing = [e.parquet.name for e in entries if not e.parquet.is_file()]
    return present, missing


def consumer_root(cfg: dict) -> Path:
    """just-dna-lite's own directory for the species: config consumer_dir, else
    <cache_dir>-consumer; never inside our cache."""
    base = Path(os.path.expanduser(str(cfg.get("consumer_dir") or f"{cfg['cache_dir']}-consumer"))).absolute()
    cache = Path(cfg["cache_dir"]).absolute()
    if base == cache or cache in base.parents:
        raise Failure(f"consumer_dir {base} is inside the cache {cache}: just-dna-lite writes its own state there; "
                      "set CONSUMER_DIR (config consumer_dir) to a directory outside it")
    return base / common.check_name(str(cfg["species"]), "species")


def modules_yaml(cfg: dict, modules: Path | None, laid_out: list[moduledef.Module], existing: dict | None,
                 layout: Path) -> str:
    """just-dna-lite's working copy: what is there already (modules it registered), with our
    entries set: the ensembl_source, the local modules source (if any module is laid out;
    an earlier one of ours is dropped) and the laid-out modules' display metadata."""
    import yaml

    data = dict(existing or {})
    data["ensembl_source"] = {"repo_id": hubclient.ensembl_repo(cfg, str(cfg["species"]))}
    ours = str(layout / "modules")
    data["sources"] = [s for s in data.get("sources") or []
                       if (s.get("url") if isinstance(s, dict) else s) != ours]
    if modules:
        data["sources"].append({"url": str(modules), "kind": "collection"})
    # Our display entries: those of the laid-out modules; one an earlier run wrote for a module
    # not laid out now is dropped (unless someone changed it: then it is theirs).
    ours_before = {name: m.display() for name, m in moduledef.all_modules().items()}
    meta = {k: v for k, v in (data.get("module_metadata") or {}).items() if ours_before.get(k) != v}
    meta.update({m.name: m.display() for m in laid_out})
    if meta or "module_metadata" in data:
        data["module_metadata"] = meta
    head = ("# just-dna-lite's modules.yaml working copy (JUST_DNA_MODULES_YAML), kept by prepare-annotations\n"
            "# (make consumer-layout): merged over just-dna-lite's own modules.yaml, so its settings stay;\n"
            "# a run updates only the entries of the locally prepared data.\n")
    return head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def lay_out_modules(cfg: dict, root: Path) -> tuple[Path | None, list[moduledef.Module]]:
    """Hard links of each built module of the set that curates the species, under
    root/modules/<module>/: (that directory or None when none is laid out, the modules)."""
    target = root / "modules"
    laid_out = []
    for module in moduledef.selected(cfg):
        files = [module.dir(cfg) / name for name in moduledef.PUBLISHED]
        if str(cfg["species"]) not in module.species:
            say(f"the {module.name} module is a {', '.join(module.species)} curation: not laid out for {cfg['species']}")
            continue
        if not all(p.is_file() for p in files):
            say(f"no {module.name} module tables in {module.dir(cfg)} (run `make {module.name}`): not laid out")
            continue
        logo = module.logo_file(cfg)
        dest = target / module.name
        for src in [*files, *([logo] if logo else [])]:
            place(src, dest / src.name)
        moduledef.drop_other_logos(dest, logo.name if logo else None)
        laid_out.append(module)
        say(f"{dest}: {module.name} module ({', '.join(p.name for p in files)}{', ' + logo.name if logo else ''})")
    names = {m.name for m in laid_out}
    for old in sorted(p for p in target.glob("*") if p.is_dir() and p.name not in names):
        shutil.rmtree(old)  # a module of an earlier layout that is not built now: the consumer would read it
        say(f"{old}: removed (not built, or not in the set)")
    return (target if laid_out else None), laid_out


def read_working_copy(path: Path) -> dict | None:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise Failure(f"{path}: cannot read just-dna-lite's modules.yaml working copy ({exc}); fix or move it "
                      "away, then run `make consumer-layout` again") from None
    if data is not None and not isinstance(data, dict):
        raise Failure(f"{path}: just-dna-lite's modules.yaml working copy is not a mapping; fix or move it away")
    return data


def link_data(consumer: Path, data: Path) -> None:
    """<consumer>/ensembl_variations/data -> our data directory (a symbolic link, replaced
    atomically); a real directory there (just-dna-lite's own download) is never touched."""
    link = consumer / "ensembl_variations" / "data"
    if link.exists() and not link.is_symlink():
        raise Failure(f"{link} is just-dna-lite's own Ensembl data, not a link to ours: move it away, or set "
                      "CONSUMER_DIR (config consumer_dir) to another directory")
    if link.is_symlink() and os.readlink(link) == str(data):
        return
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = common.temp_path_for(link)
    tmp.unlink(missing_ok=True)
    os.symlink(data, tmp)
    os.replace(tmp, link)


@app.command()
def layout() -> None:
    """Lay out the species' Parquet set, the built modules and a modules.yaml in
    just-dna-lite's layout under <cache>/just-dna-lite/<species>/, and print the
    environment variables that point just-dna-lite at it."""
    cfg = common.load_config()
    root = layout_root(cfg)
    with common.exit_on_failure(root):
        files, missing = ensembl_set(cfg)
        if not files:
            raise Failure(f"none of the {len(missing)} Parquet files of {common.urls_json(cfg)} exists "
                          f"in {common.species_dir(cfg)}: run `make parquet` first")
        if missing:
            say(f"warning: {len(missing)} file(s) of the set are not built yet and are left out: "
                f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} (run `make parquet`)")
        data = root / "ensembl_variations" / "data"
        counts: dict[str, int] = {}
        for src in files:
            how = place(src, data / src.name)
            counts[how] = counts.get(how, 0) + 1
        wanted = {p.name for p in files}
        stale = [p for p in data.glob("*.parquet") if p.name not in wanted]
        for path in stale:
            path.unlink()
        say(f"{data}: {len(files)} Parquet file(s) ("
            + ", ".join(f"{n} {how}" for how, n in sorted(counts.items()))
            + (f"; removed {len(stale)} not in the set: {', '.join(sorted(p.name for p in stale))}" if stale else "")
            + ")")

        modules, laid_out = lay_out_modules(cfg, root)
        consumer = consumer_root(cfg)
        link_data(consumer, data)
        (root / "modules.yaml").unlink(missing_ok=True)  # where an earlier version wrote it
        working = consumer / "modules.yaml"
        common.atomic_write(working, modules_yaml(cfg, modules, laid_out, read_working_copy(working), root).encode(),
                            only_if_changed=True)
        say(f"{consumer}: just-dna-lite's cache (its Ensembl data linked to ours) and {working.name} "
            "(merged over its own); set these for just-dna-lite:")
    print(f"export JUST_DNA_PIPELINES_CACHE_DIR={shlex.quote(str(consumer))}")
    print(f"export JUST_DNA_MODULES_YAML={shlex.quote(str(working))}")
    print("unset JUST_DNA_PIPELINES_ROOT")


if __name__ == "__main__":
    app()

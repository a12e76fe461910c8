"""An annotation module is a folder, sql/modules/<name>/: module.toml (its source, display
metadata, version, curator, method, species, licence and credits, the constants its SQL
uses) and one SQL file per table it builds. This file reads a folder into a Module, checks
that module.toml says what the runner needs, and answers the questions every step asks:
where its files go, what the configuration overrides (<name>_url, <name>_logo,
<name>_version, curator, method, modules), and whether a species has this curation.

Nothing here is specific to one module: a seventh module is a seventh folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import common
import config
from common import Failure

# What a build writes into <cache>/modules/<name>/, the Make targets of `make <name>`.
TABLES = ("annotations", "studies", "weights")          # the module the consumer reads
ARTIFACT = (*(f"{t}.parquet" for t in TABLES), "sources.parquet")  # the manifest's artifact digest
PUBLISHED = (*ARTIFACT, "manifest.json", "metadata.yaml")
REPORTS = ("unresolved.tsv", "conflicts.tsv")            # for the curators, never published
OUTPUTS = (*PUBLISHED, *REPORTS)
LOGO_EXTENSIONS = ("png", "jpg", "jpeg")                 # what the consumer looks for beside the tables
SOURCE_KINDS = {"sqlite", "tsv"}
ARROW_TYPES = {"string", "int64", "float64"}
COMMIT = re.compile(r"/(?:raw|blob)/([0-9a-f]{40})/")


@dataclass(frozen=True)
class Module:
    name: str
    folder: Path
    meta: dict

    # --- module.toml ---------------------------------------------------------------------
    @property
    def source(self) -> dict:
        return self.meta["source"]

    @property
    def tables(self) -> dict[str, dict[str, str]]:
        """Source tables read, {table: {column: Arrow type}} (a TSV is one table)."""
        return self.source["tables"]

    @property
    def weighted(self) -> bool:
        return bool(self.meta["weighted"])

    @property
    def species(self) -> list[str]:
        return list(self.meta["species"])

    def display(self) -> dict:
        """How the module shows in just-dna-lite (metadata.yaml, manifest.json's display)."""
        return {k: self.meta[k] for k in ("title", "description", "report_title", "icon", "color")}

    def sql(self, name: str) -> Path:
        """sql/modules/<name>/<file>.sql when the module has its own, else the shared sql/<file>.sql."""
        own = self.folder / f"{name}.sql"
        return own if own.is_file() else config.SQL_DIR / f"{name}.sql"

    def code(self) -> list[Path]:
        """The module's folder files (module.toml and its SQL): a change rebuilds it."""
        return sorted(p for p in self.folder.iterdir() if p.suffix in (".toml", ".sql"))

    # --- the configuration ---------------------------------------------------------------
    def url(self, cfg: dict) -> str:
        return str(cfg.get(f"{self.name}_url") or self.source["url"])

    def logo_setting(self, cfg: dict) -> str:
        """<name>_logo (a URL, a local png/jpg/jpeg, or "none"), else module.toml's logo."""
        value = str(cfg.get(f"{self.name}_logo") or "").strip()
        return "" if value.lower() == "none" else (value or str(self.meta.get("logo") or ""))

    def version(self, cfg: dict) -> str:
        version = str(cfg.get(f"{self.name}_version") or self.meta["version"])
        if not re.fullmatch(r"\d+\.\d+\.\d+", version):
            raise Failure(f"{self.name}_version {version!r} is not MAJOR.MINOR.PATCH (e.g. 1.0.0)")
        return version

    def curator(self, cfg: dict) -> str:
        return str(cfg.get("curator") or self.meta["curator"])

    def method(self, cfg: dict) -> str:
        return str(cfg.get("method") or self.meta["method"])

    def commit(self, cfg: dict) -> str | None:
        """The commit the source comes from: module.toml's for its own URL, else one a GitHub
        raw/blob URL names, else unknown (None)."""
        url = self.url(cfg)
        if url == self.source["url"] and self.source.get("commit"):
            return str(self.source["commit"])
        found = COMMIT.search(url)
        return found.group(1) if found else None

    def params(self, cfg: dict) -> dict:
        """What the SQL may bind: $module, $curator, $method, $weighted and module.toml's [params]."""
        return {**{k: str(v) for k, v in (self.meta.get("params") or {}).items()},
                "module": self.name, "curator": self.curator(cfg), "method": self.method(cfg),
                "weighted": self.weighted}

    # --- files -----------------------------------------------------------------------------
    def dir(self, cfg: dict) -> Path:
        return Path(cfg["cache_dir"]) / "modules" / self.name

    def source_path(self, cfg: dict) -> Path:
        return self.dir(cfg) / self.source["file"]

    def log_path(self, cfg: dict) -> Path:
        return self.dir(cfg) / "steps.jsonl"

    def logo_file(self, cfg: dict) -> Path | None:
        """The logo fetched beside the tables (logo.png/jpg/jpeg), if any."""
        return next((p for ext in LOGO_EXTENSIONS if (p := self.dir(cfg) / f"logo.{ext}").is_file()), None)


def drop_other_logos(folder: Path, keep: str | None) -> None:
    """Remove every logo.<png|jpg|jpeg> in ``folder`` but the one named ``keep``: the
    consumer takes the first it finds, so only the current one may stay."""
    for ext in LOGO_EXTENSIONS:
        if (old := folder / f"logo.{ext}").name != keep:
            old.unlink(missing_ok=True)


def inputs_text(cfg: dict, module: Module, files: list[str]) -> str:
    """What the tables depend on besides file contents: the Ensembl file list and the
    parameters written into them. Make rebuilds the tables when this text changes."""
    lines = [f"# Inputs of the {module.name} tables (written by `modules.py inputs`; a change",
             f"# here makes `make {module.name}` rebuild them).",
             f"module = {module.name}", f"version = {module.version(cfg)}",
             f"curator = {module.curator(cfg)}", f"method = {module.method(cfg)}"]
    lines += [f"ensembl = {os.path.abspath(f)}" for f in files]
    return "\n".join(lines) + "\n"


def hits_dir(cfg: dict) -> Path:
    """<cache>/modules/hits: one hits file per Ensembl Parquet file, for every module."""
    return Path(cfg["cache_dir"]) / "modules" / "hits"


def hits_log(cfg: dict) -> Path:
    return Path(cfg["cache_dir"]) / "modules" / "steps.jsonl"


def _check(name: str, folder: Path, meta: dict) -> None:
    """Failure naming module.toml and the key when it lacks what the runner needs."""
    where = folder / "module.toml"

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise Failure(f"{where}: {what}")

    for key in ("title", "description", "report_title", "icon", "color", "version", "curator", "method",
                "license", "genome_build"):
        need(isinstance(meta.get(key), str) and meta[key].strip(), f"needs {key} (a non-empty string)")
    need(isinstance(meta.get("weighted"), bool), "needs weighted = true or false")
    need(isinstance(meta.get("species"), list) and meta["species"]
         and all(isinstance(s, str) and re.fullmatch(r"[a-z0-9][a-z0-9_]*", s) for s in meta["species"]),
         "needs species, a list of Ensembl species names (e.g. [\"homo_sapiens\"])")
    source = meta.get("source")
    need(isinstance(source, dict), "needs a [source] table")
    for key in ("url", "kind", "file", "claims"):
        need(isinstance(source.get(key), str) and source[key].strip(), f"[source] needs {key}")
    need(source["kind"] in SOURCE_KINDS, f"[source] kind {source['kind']!r} is not one of {', '.join(sorted(SOURCE_KINDS))}")
    need(common.SAFE_NAME.fullmatch(source["file"]) and source["file"] not in OUTPUTS,
         f"[source] file {source['file']!r} must be a plain file name, not one of the outputs")
    tables = source.get("tables")
    need(isinstance(tables, dict) and tables, "needs [source.tables.<table>] with the columns read")
    need(source["kind"] != "tsv" or len(tables) == 1, "a TSV source is one table: one [source.tables.<name>]")
    need(source["claims"] in tables, f"[source] claims {source['claims']!r} is not one of its tables")
    for table, columns in tables.items():
        need(isinstance(columns, dict) and columns and all(t in ARROW_TYPES for t in columns.values()),
             f"[source.tables.{table}] maps each column to one of {', '.join(sorted(ARROW_TYPES))}")
    credits = meta.get("credits")
    need(isinstance(credits, list) and credits and all(isinstance(c, dict) and c.get("source") and c.get("license")
                                                       for c in credits),
         "needs [[credits]] entries, each with at least source and license")
    need(isinstance(meta.get("weighting", {}), dict), "[weighting] is a table (scale, method, note)")
    for sql in ("curated", "annotations", "studies"):
        need((folder / f"{sql}.sql").is_file(), f"the module needs its own {sql}.sql beside module.toml")


def load(name: str, folder: Path) -> Module:
    try:
        meta = config.module_toml(folder)
    except config.ConfigError as exc:
        raise Failure(str(exc)) from None
    _check(name, folder, meta)
    return Module(name, folder, meta)


def all_modules() -> dict[str, Module]:
    """Every module folder, checked, by name."""
    try:
        folders = config.module_folders()
    except config.ConfigError as exc:
        raise Failure(str(exc)) from None
    return {name: load(name, folder) for name, folder in folders.items()}


def get(name: str) -> Module:
    modules = all_modules()
    if name not in modules:
        raise Failure(f"no module {name!r}: sql/modules/ has {', '.join(modules) or 'none'}")
    return modules[name]


def selected(cfg: dict) -> list[Module]:
    """The modules of config `modules` (MODULES=a,b; empty: all), in that order."""
    modules = all_modules()
    try:
        return [modules[n] for n in config.selected_modules(cfg)]
    except config.ConfigError as exc:
        raise Failure(str(exc)) from None


def refuse_species(cfg: dict, modules: list[Module]) -> None:
    """Failure, before anything is written, when the configured species has no curation in
    one of ``modules``: their tables are built against that species' Ensembl set only."""
    species = str(cfg["species"])
    wrong = [m for m in modules if species not in m.species]
    if wrong:
        names = ", ".join(m.name for m in wrong)
        kinds = sorted({s for m in wrong for s in m.species})
        raise Failure(f"refusing to build {names} for {species}: the curation is of {', '.join(kinds)} "
                      f"({', '.join(sorted({m.meta['genome_build'] for m in wrong}))}), so its tables are built "
                      f"against the {kinds[0]} Ensembl set only; nothing under {Path(cfg['cache_dir']) / 'modules'} "
                      f"was written (run it with SPECIES={kinds[0]})")

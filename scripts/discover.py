"""Discover the species' variation VCFs from Ensembl's directory listing.

  python scripts/discover.py            # read <base_url><species>/, write vcf_urls.json and CHECKSUMS
  python scripts/discover.py fragment   # write the Make fragment (VCF_NAMES) from vcf_urls.json
  python scripts/discover.py targets    # the per-file work as JSON on stdout (`make targets-json`)

Default selection: the per-chromosome germline files `<species>-chr<N>.vcf.gz`, or,
for species Ensembl dumps as one file, `<species>.vcf.gz`. Config `pattern` (a regular
expression matched against the whole name) replaces that choice. Consequence,
structural, somatic, phenotype/clinical subsets, 1000GENOMES files, indexes, README
and CHECKSUMS are never selected. A selected name that is not a plain file name is
refused before it becomes a path or a Make target.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import typer

import common
import fetch
import moduledef
import sumcheck

NEVER = re.compile(
    r".*(_incl_consequences|_structural_variations|_somatic|_phenotype_associated"
    r"|_clinically_associated).*|1000GENOMES-.*|.*\.(csi|tbi|md5)|README.*|CHECKSUMS.*",
    re.IGNORECASE,
)


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(value for key, value in attrs if key == "href" and value)


def listing_names(html: str) -> list[str]:
    """File names linked from an Apache autoindex page (table or <pre> form): no sort
    links, parent or absolute links, sub-directories or anything outside the
    directory; URL-decoded. Names are returned as they are, safe or not."""
    parser = _Hrefs()
    parser.feed(html)
    names = []
    for href in parser.hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or parts.query or parts.fragment or not parts.path:
            continue  # absolute URL, sort link (?C=N;O=D), anchor
        if parts.path.startswith(("/", "../", "./")) or parts.path in (".", ".."):
            continue  # absolute path, parent directory, self
        if parts.path.endswith("/"):
            continue  # sub-directory
        name = unquote(parts.path)
        if name not in names:
            names.append(name)
    return names


def select(names: list[str], species: str, pattern: str = "") -> list[str]:
    """The names to download, sorted; unsafe selected names raise common.Failure."""
    if pattern:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise common.Failure(f"pattern {pattern!r} is not a valid regular expression: {exc}")
        chosen = [n for n in names if rx.fullmatch(n)]
    else:
        sp = re.escape(species)
        chosen = [n for n in names if re.fullmatch(rf"{sp}-chr.+\.vcf\.gz", n, re.S)]
        if not chosen:
            chosen = [n for n in names if n == f"{species}.vcf.gz"]
    chosen = [n for n in chosen if not NEVER.fullmatch(n)]
    for name in chosen:
        common.check_name(name, "the Ensembl listing")
    return sorted(chosen)


def discover(cfg: dict) -> list[str]:
    species = common.check_name(str(cfg["species"]), "species")
    listing_url = f"{cfg['base_url']}{species}/"
    html = fetch.get_text(listing_url, cfg)
    names = select(listing_names(html), species, str(cfg["pattern"]))
    if not names:
        raise common.Failure(
            f"{listing_url}: no VCF matches the selection "
            + (f"(pattern {cfg['pattern']!r})" if cfg["pattern"]
               else f"({species}-chr<N>.vcf.gz or {species}.vcf.gz)")
        )
    urls = [urljoin(listing_url, n) for n in names]

    sums_path = common.checksums_path(cfg)
    sums_text = fetch.get_text(urljoin(listing_url, "CHECKSUMS"), cfg, missing_ok=True)
    if sums_text is None:
        common.say(f"warning: {listing_url}CHECKSUMS not found; downloads will be checked by size only")
        sums_path.unlink(missing_ok=True)
    else:
        table = sumcheck.parse_checksums(sums_text)
        missing = [n for n in names if n not in table]
        if missing:
            common.say(f"warning: CHECKSUMS lists no checksum for {', '.join(missing)}")
        common.atomic_write(sums_path, sums_text.encode(), only_if_changed=True)
    common.atomic_write(common.urls_json(cfg), (json.dumps(urls, indent=1) + "\n").encode())
    write_expected(cfg, names)
    return urls


def write_expected(cfg: dict, names: list[str]) -> None:
    """``expected/<name>``: the file's CHECKSUMS entry ("size only" without one), each
    rewritten only when it changed. The Make target of a VCF depends on it, so a new
    CHECKSUMS re-checks exactly the files whose checksum changed, nothing else."""
    table = sumcheck.load_checksums(common.checksums_path(cfg)) or {}
    directory = common.species_dir(cfg) / "expected"
    for name in names:
        entry = table.get(name)
        common.atomic_write(directory / name, f"{entry if entry else 'size only'}\n".encode(),
                            only_if_changed=True)
    for stale in directory.iterdir():
        if stale.name not in names and not stale.name.startswith("."):
            stale.unlink()


def fragment_text(urls: list[str]) -> str:
    names = [common.check_name(u.rsplit("/", 1)[-1], "vcf_urls.json") for u in urls]
    return ("# Written by scripts/discover.py from vcf_urls.json; do not edit.\n"
            f"VCF_NAMES := {' '.join(names)}\n")


app = typer.Typer(add_completion=False, help=__doc__, invoke_without_command=True)


@app.callback()
def main(ctx: typer.Context) -> None:
    """Read the listing and CHECKSUMS; write vcf_urls.json (sorted full URLs)."""
    if ctx.invoked_subcommand is not None:
        return
    cfg = common.load_config()
    target = common.urls_json(cfg)
    with common.exit_on_failure(target), common.step(common.step_log_path(cfg), "discover", target) as rec:
        urls = discover(cfg)
        rec["files"] = len(urls)
    common.say(f"{len(urls)} file(s) selected -> {target}")
    for u in urls:
        print(u)


@app.command()
def fragment() -> None:
    """Write the Make fragment listing the VCF targets and the expected/ files (from
    vcf_urls.json and CHECKSUMS, no network)."""
    cfg = common.load_config()
    source = common.urls_json(cfg)
    try:
        urls = json.loads(source.read_text())
        text = fragment_text(urls)
    except (OSError, ValueError) as exc:
        common.die(f"{source}: cannot read ({exc}); run `make refresh`")
    except common.Failure as exc:
        common.die(str(exc))
    write_expected(cfg, [u.rsplit("/", 1)[-1] for u in urls])
    common.atomic_write(Path(source).with_name("vcf_files.mk"), text.encode())


def targets(cfg: dict) -> dict:
    """The per-file work of the species from the discovery manifest: for each file its
    name, URL, expected checksum, the VCF / Parquet / hits paths relative to the cache
    and the exact Make targets that build its Parquet and its hits file (the map step of
    every module). ``modules``: the modules of the set that curate the species; none (any
    species but the human one), then no file has a hits file ("" for both)."""
    cache = Path(cfg["cache_dir"])
    table = sumcheck.load_checksums(common.checksums_path(cfg)) or {}
    hits_dir = cache / "modules" / "hits"
    modules = [m.name for m in moduledef.selected(cfg) if str(cfg["species"]) in m.species]
    files = []
    for entry in common.manifest(cfg):
        listed = table.get(entry.name)
        hits = hits_dir / f"{entry.stem}.hits.parquet"
        files.append({
            "name": entry.name, "stem": entry.stem, "url": entry.url,
            "checksum": str(listed) if listed else None,
            "vcf": str(entry.vcf.relative_to(cache)), "parquet": str(entry.parquet.relative_to(cache)),
            "hits": str(hits.relative_to(cache)) if modules else "",
            "target": str(entry.parquet), "hits_target": str(hits) if modules else "",
        })
    return {"species": cfg["species"], "base_url": cfg["base_url"], "cache_dir": str(cache),
            "modules": modules, "files": files}


@app.command("targets")
def targets_cmd() -> None:
    """Print the per-file work (`make targets-json`) as one JSON document on stdout."""
    cfg = common.load_config()
    with common.exit_on_failure(common.urls_json(cfg)):
        doc = targets(cfg)
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    app()

"""Publish the prepared data on the Hugging Face Hub.

ensembl: the Parquet targets of the species' discovery manifest (vcf_urls.json),
nothing else, go to the dataset repo hf_ensembl_repo under data/, with a generated
dataset card. A target that is missing or older than its VCF stops the upload
(--allow-partial: publish the others, the card says which are included).
One repo holds one species: hf_ensembl_repo is homo_sapiens', another species
goes to <hf_ensembl_repo>_<species> (or --repo). The plan lists the files under
data/ on the Hub that are not in the release's set as stale; --prune deletes them in the
same commit.
modules: every module of the set (config modules): its tables, sources.parquet,
manifest.json, metadata.yaml and logo go to hf_modules_repo under data/<module>/, all
modules in one commit; a module's folder is ours, so the same commit deletes what the
build no longer produces there. (longevitymap: that module alone.)

A file is sent only when its SHA-256 differs from the one the Hub reports;
all changes go in one atomic commit; no commit when nothing changed.
--dry-run prints the plan and writes (and deletes) nothing on the Hub. The token comes
from HF_TOKEN or the Hugging Face login cache (`hf auth login`).

The two-phase publishing of CI legs (report, stage, check, gather) is publish_ci.py; both
talk to the Hub through hubclient.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

import common
import hubcard
import modcard
import moduledef
import outputs
import sumcheck
from common import Failure, Refusal, say
from hubclient import (CREATE_REPO, DIGEST_CACHE, DRY_RUN, REPO, REPO_TYPE, DigestCache, Item, auth_failure,
                       check_bytes, check_species, connect, fill_digests, hub_call,
                       main_guard, remote_state, short, species_repo)
from hubplan import commit_message, decide, print_plan, stale_items
from hubcard import natural_key

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


# --- what to upload -----------------------------------------------------------------

def ensembl_files(cfg: dict, allow_partial: bool = False) -> tuple[list[Path], list[Item], list[str]]:
    """(files, aside, left_out). files: the Parquet targets of the discovery manifest
    (common.parquet_set), chr1, chr2, …, chr10 order. aside: plan lines for what is not
    sent - stray *.parquet of the species directory ("ignore") and, with
    ``allow_partial``, the manifest's targets that are not ready ("omit"). left_out: the
    names of the latter. Without ``allow_partial`` a target that is not ready stops."""
    try:
        found = common.parquet_set(cfg)
    except Failure as exc:
        raise Failure(f"{exc} (`make parquet` discovers, downloads and converts)") from None
    if not found.entries:
        raise Failure(f"{common.urls_json(cfg)} lists no files: nothing to publish")
    sums = sumcheck.load_checksums(common.checksums_path(cfg))
    for e in [e for e in found.ready if sumcheck.source_mismatch(e.parquet, e.name, sums)]:
        found.ready.remove(e)  # a VCF known not to match CHECKSUMS is never published
        found.not_ready.append((e, f"converted from a {e.name} that does not match CHECKSUMS; "
                                   f"`make {e.parquet} FORCE=1` converts it again"))
    if found.not_ready and not allow_partial:
        raise Failure(f"{found.problem()}. Run `make parquet` first, or pass --allow-partial to "
                      f"publish the {len(found.ready)} that are ready (the card then lists what is included)")
    if not found.ready:
        raise Failure(f"{found.problem()}: nothing to publish; run `make parquet` first")
    files = sorted((e.parquet for e in found.ready), key=lambda p: natural_key(p.name))
    aside = [Item(p.name, local=p, size=p.stat().st_size, action="ignore", reason=why)
             for p, why in found.stray]
    aside += [Item(e.parquet.name, action="omit", reason=f"not ready: {why} (--allow-partial)")
              for e, why in found.not_ready]
    return files, aside, [e.parquet.name for e, _ in found.not_ready]


def module_items(cfg: dict, module: moduledef.Module) -> list[Item]:
    """What `make <module>` wrote to publish: the tables, sources.parquet, manifest.json,
    metadata.yaml and the logo; each artifact checked against manifest.json's SHA-256 (the
    bytes about to be sent are the bytes the build attested)."""
    folder = module.dir(cfg)
    files = [folder / name for name in moduledef.PUBLISHED]
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise Failure(f"{folder} has no {', '.join(missing)}: run `make {module.name}` first")
    damaged = [problem for p in files if (problem := outputs.check(p))]  # the bytes against those written
    if damaged:
        raise Refusal("refusing to upload: " + "; ".join(damaged) + ". Nothing was sent.")
    try:
        attested = {e["name"]: e for e in json.loads((folder / "manifest.json").read_text())["artifact"]["files"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Failure(f"{folder / 'manifest.json'}: unreadable ({exc}); run `make {module.name} FORCE=1`") from None
    for name, entry in attested.items():
        if modcard.file_entry(folder / name) != entry:
            raise Failure(f"{folder / name} no longer matches its manifest.json (SHA-256 or size): "
                          f"rebuild it with `make {module.name} FORCE=1`; nothing was sent")
    logo = module.logo_file(cfg)
    return [Item(f"data/{module.name}/{p.name}", local=p, size=p.stat().st_size)
            for p in [*files, *([logo] if logo else [])]]


# --- one commit from this machine --------------------------------------------------------

def publish(cfg: dict, kind: str, repo_id: str, items: list[Item], dry_run: bool,
            create_repo: bool, record: dict, release: str | None = None, guard=None, stale_of=None,
            head_line: str = "") -> None:
    """One commit of ``items`` to ``repo_id`` (only those whose content differs). ``stale_of``,
    if given, maps the repo's file names to plan lines for files on the Hub the build no
    longer produces: "delete" ones go in the same commit, "stale" ones are listed only."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.utils import disable_progress_bars

    if not sys.stderr.isatty():
        disable_progress_bars()  # the client's tqdm bars are noise in a log
    aside = [i for i in items if i.action]  # listed in the plan, never sent
    items = [i for i in items if not i.action]
    if aside:
        record["not_sent"] = [{"path": str(i.local or i.path_in_repo), "action": i.action, "reason": i.reason}
                              for i in aside]
    if dry_run:
        cfg = dict(cfg, retries=0)  # a plan, not a delivery: do not wait on a dead Hub
    api, notes = connect(cfg, repo_id, dry_run)
    paths = [i.path_in_repo for i in items]
    cache = DigestCache(Path(cfg["cache_dir"]) / DIGEST_CACHE)

    def unknown(reason: str) -> None:
        for i in items:
            i.action, i.reason = "upload", "remote unknown"
        print_plan(repo_id, None, items, notes + [reason], aside)
        print("dry run: nothing was sent to the Hub")

    try:
        state = hub_call(cfg, "reading the repo", lambda: remote_state(api, repo_id, paths))
    except Exception as exc:  # noqa: BLE001
        failure = auth_failure(exc, repo_id)
        if dry_run:
            return unknown(f"could not read datasets/{repo_id} on {api.endpoint}: "
                           f"{failure or short(exc)}")
        raise failure or Failure(f"could not read datasets/{repo_id} on {api.endpoint}: {short(exc)}") from None
    if state is None:
        if dry_run:
            notes.append(f"datasets/{repo_id} does not exist; a real run needs --create-repo")
            return unknown("the repo does not exist")
        if not create_repo:
            raise Refusal(f"dataset repo {repo_id} not found on {api.endpoint} (or not visible to "
                          "this token): check the name (config hf_*_repo) or pass --create-repo")
        url = hub_call(cfg, "creating the repo",
                       lambda: api.create_repo(repo_id, repo_type=REPO_TYPE, exist_ok=True))
        say(f"created {url}")
        record["created_repo"] = True
        state = hub_call(cfg, "reading the repo", lambda: remote_state(api, repo_id, paths))
        if state is None:
            raise Failure(f"datasets/{repo_id} is still not visible after creating it: check that "
                          "the token may read it")

    if guard is not None:
        guard(api, state[0])  # checks the target repo before anything is hashed or sent
    fill_digests(items, cache)
    cache.save()
    head, remote, names = state

    def listed_stale(names: list[str]) -> list[Item]:
        return stale_of(names) if stale_of else []

    stale = listed_stale(names)
    for item in items:
        decide(item, remote.get(item.path_in_repo))
    check_bytes([i for i in items if i.action == "upload"], cache)  # what is sent is what was written
    print_plan(repo_id, head, [*stale, *items], notes, aside)
    record["uploaded"] = [{"path": i.path_in_repo, "bytes": i.size, "reason": i.reason}
                          for i in items if i.action == "upload"]
    record["skipped"] = [{"path": i.path_in_repo, "reason": i.reason}
                         for i in items if i.action != "upload"]
    record["deleted"] = [i.path_in_repo for i in stale if i.action == "delete"]
    record["stale"] = [i.path_in_repo for i in stale if i.action == "stale"]
    if dry_run:
        print("dry run: nothing was sent to the Hub" + (", nothing deleted" if stale else ""))
        return
    if not record["uploaded"] and not record["deleted"]:
        say(f"nothing changed on datasets/{repo_id}: no commit")
        record.update(commit=None, bytes_sent=0)
        return

    state_box = {"head": head, "first": True}

    def attempt():
        nonlocal stale
        if not state_box["first"]:
            # Someone may have committed meanwhile, or the last attempt went through:
            # look again so the retry commits only what still differs (and deletes what is still there).
            new_head, new_remote, new_names = remote_state(api, repo_id, paths)
            for item in items:
                decide(item, new_remote.get(item.path_in_repo))
            state_box["head"] = new_head
            stale = listed_stale(new_names)
            if not any(i.action == "upload" for i in items) and not any(i.action == "delete" for i in stale):
                return None
        state_box["first"] = False
        ops = [CommitOperationDelete(path_in_repo=i.path_in_repo) for i in stale if i.action == "delete"]
        for item in items:
            if item.action != "upload":
                continue
            op = CommitOperationAdd(path_in_repo=item.path_in_repo,
                                    path_or_fileobj=str(item.local) if item.local else item.data)
            op.upload_info.sha256 = bytes.fromhex(item.sha256)  # known: do not read the file again
            ops.append(op)
        summary, description = commit_message(head_line or f"Ensembl release {release}",
                                               "Parquet files" if kind == "ensembl" else "tables", [*stale, *items])
        return api.create_commit(repo_id, ops, commit_message=summary,
                                 commit_description=description, repo_type=REPO_TYPE,
                                 parent_commit=state_box["head"])

    try:
        info = hub_call(cfg, "uploading", attempt)
    except Exception as exc:  # noqa: BLE001
        failure = auth_failure(exc, repo_id)
        cause = str(failure) if failure else short(exc)
        raise Failure(
            f"upload to datasets/{repo_id} failed: {cause}. Nothing was committed - a Hub commit "
            f"is all or nothing, so the repo is as it was. Fix the cause and run the same command "
            f"again (content that already reached the Hub is not sent twice).") from None
    if info is None and state_box["head"] != head:
        # Nothing left to send and the repo moved on from the planned parent: an earlier
        # attempt's commit went through and only its answer was lost. That commit is
        # this run's; the record keeps the plan it carried out.
        new_head = state_box["head"]
        record["commit"] = new_head
        record["commit_url"] = f"{api.endpoint}/datasets/{repo_id}/commit/{new_head}"
        record["bytes_sent"] = sum(i["bytes"] for i in record["uploaded"])
        say(f"the commit went through although its answer was lost: datasets/{repo_id} is now at "
            f"{new_head[:7]} ({record['commit_url']})")
        return
    record["uploaded"] = [{"path": i.path_in_repo, "bytes": i.size, "reason": i.reason}
                          for i in items if i.action == "upload"]
    record["skipped"] = [{"path": i.path_in_repo, "reason": i.reason}
                         for i in items if i.action != "upload"]
    record["bytes_sent"] = sum(i.size for i in items if i.action == "upload")
    record["deleted"] = [i.path_in_repo for i in stale if i.action == "delete"]
    if info is None:
        say(f"nothing left to change on datasets/{repo_id}: no commit")
        record["commit"] = None
        return
    record["commit"] = info.oid
    record["commit_url"] = str(info.commit_url)
    say(f"committed {info.oid[:7]} to datasets/{repo_id}: {info.commit_url}")


def run(kind: str, cfg: dict, log_path: Path, repo_id: str, items_fn, dry_run: bool,
        create_repo: bool, guard=None) -> None:
    """items_fn() -> (items, release, stale_of, head_line); see publish()."""
    if repo_id.count("/") != 1 or not all(common.SAFE_NAME.fullmatch(p) for p in repo_id.split("/")):
        common.die(f"repo id {repo_id!r} is not <organisation>/<name> (letters, digits, . - _)", code=2)
    items, release, stale_of, head_line = items_fn()
    if dry_run:
        publish(cfg, kind, repo_id, items, dry_run, create_repo, {}, release, guard, stale_of, head_line)
        return
    with common.step(log_path, f"upload-{kind}", f"datasets/{repo_id}") as record:
        record["repo"] = repo_id
        record["kind"] = kind  # with uploaded, skipped, deleted, commit, commit_url, bytes_sent: `status` reads them
        publish(cfg, kind, repo_id, items, dry_run, create_repo, record, release, guard, stale_of, head_line)


@app.command()
def ensembl(dry_run: bool = DRY_RUN, create_repo: bool = CREATE_REPO, repo: str = REPO,
            species: str = typer.Option(None, help="Ensembl species (default: from config)."),
            allow_partial: bool = typer.Option(
                False, "--allow-partial", help="Publish the ready files when some of the discovery "
                "manifest's Parquet files are missing or older than their VCF (the card says which)."),
            prune: bool = typer.Option(
                False, "--prune", help="Delete, in the same commit, the files under data/ on the Hub that are "
                "not in the release's set (the plan lists them as stale either way).")):
    """Upload the Parquet targets of the discovery manifest (<cache>/ensembl/<species>/<stem>.parquet) to
    <repo>/data/, with a dataset card. One repo holds one species: hf_ensembl_repo is homo_sapiens', another
    species goes to <hf_ensembl_repo>_<species> (or --repo); a repo holding another species' files or card is
    refused."""
    cfg = common.load_config()
    if species:
        cfg["species"] = species
    species = str(cfg["species"])
    try:
        repo_id = species_repo(cfg, species, repo)
    except Failure as exc:
        common.die(str(exc))

    def items_fn():
        files, aside, left_out = ensembl_files(cfg, allow_partial)
        facts = [hubcard.parquet_facts(p) for p in files]
        items = [Item(f"data/{p.name}", local=p, size=f["size"]) for p, f in zip(files, facts)]
        card = hubcard.ensembl_card(repo_id, cfg["species"], files, facts, left_out).encode()
        items.append(Item("README.md", data=card, size=len(card)))
        release = hubcard.summary([f["release"] for f in facts])
        wanted = {f"data/{e.parquet.name}" for e in common.manifest(cfg)}  # the release's set, ready or not
        why = (f"not in the {species} set of release {release} (discovery manifest)"
               + ("" if prune else "; --prune deletes it"))
        return (items + aside, release,
                lambda names: stale_items(names, "data/", wanted, prune, why), None)

    main_guard(lambda: run("ensembl", cfg, common.step_log_path(cfg), repo_id, items_fn,
                           dry_run, create_repo,
                           guard=lambda api, head: check_species(cfg, api, repo_id, species, head)))


@app.command()
def modules(dry_run: bool = DRY_RUN, create_repo: bool = CREATE_REPO, repo: str = REPO,
            module: list[str] = typer.Option(None, "--module", help="Only this module (repeatable; default: config "
                                                                     "modules, every module folder).")):
    """Upload every module of the set (tables, sources.parquet, manifest.json, metadata.yaml, logo) to
    <repo>/data/<module>/ in ONE commit: only the files that changed; in the same commit, the files under
    data/<module>/ that the build no longer produces are deleted (a module's folder is ours)."""
    cfg = common.load_config()
    if module:
        cfg["modules"] = ",".join(module)
    repo_id = repo or cfg["hf_modules_repo"]

    def items_fn():
        chosen = moduledef.selected(cfg)
        moduledef.refuse_species(cfg, chosen)
        items = [item for m in chosen for item in module_items(cfg, m)]
        wanted = {i.path_in_repo for i in items}
        head = f"modules {', '.join(m.name for m in chosen)}"

        def stale_of(names: list[str]) -> list[Item]:
            return [s for m in chosen for s in stale_items(
                names, f"data/{m.name}/", wanted, True, f"the {m.name} build no longer produces it")]

        return items, None, stale_of, head

    main_guard(lambda: run("modules", cfg, moduledef.hits_log(cfg), repo_id, items_fn, dry_run, create_repo))


@app.command()
def longevitymap(dry_run: bool = DRY_RUN, create_repo: bool = CREATE_REPO, repo: str = REPO):
    """The LongevityMap module alone (`modules --module longevitymap`)."""
    modules(dry_run=dry_run, create_repo=create_repo, repo=repo, module=["longevitymap"])


if __name__ == "__main__":
    app()

"""Two-phase publishing of the Ensembl Parquet set for CI fan-out: one runner per file,
then one gather (docs/ci.md).

report: one Parquet file's facts (rows, size, schema, release, date, SHA-256,
first record) -> a small JSON report (no network).
stage: one Parquet file -> data/<name> on the staging branch staging/<release>
of hf_ensembl_repo (created from main when missing; skipped when it already holds
the same SHA-256).
check: fail, naming them, when planned files have no leg report (no network).
gather: check that the staging branch holds exactly the planned files (sizes and
LFS SHA-256 against the legs' reports), then ONE commit on main that copies them
server-side together with the dataset card made from the reports, and delete the
staging branch. No commit when nothing changed.

One repo holds one species, as with upload.py; the Hub client, retries and digests are
hubclient.py's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

import common
import hubcard
from common import Failure, say
from hubclient import (CREATE_REPO, DIGEST_CACHE, DRY_RUN, REPO, REPO_TYPE, DigestCache, Item, auth_failure,
                       branch_files, check_bytes, check_species, connect, fill_digests,
                       hub_call, main_guard, remote_state, short, species_repo)
from hubplan import commit_message, decide, print_plan, unchanged
from hubcard import natural_key

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def staging_branch(release: str) -> str:
    return f"staging/{release}"


def leg_report(path: Path) -> dict:
    """The facts of one Parquet file a leg reports: parquet_facts + SHA-256 + the first
    record (the card's example), everything the gather needs without the file."""
    facts = hubcard.parquet_facts(path)
    item = Item(path.name, local=path)
    check_bytes([item])  # the bytes reported (and staged) are those written
    facts["sha256"] = item.sha256
    record = hubcard.first_record(path)
    facts["first_record"] = ({"chrom": str(record["chrom"]), "start": int(record["start"])}
                             if record else None)
    return facts


def load_reports(folder: Path) -> dict[str, dict]:
    reports = {}
    for path in sorted(folder.rglob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise Failure(f"{path}: unreadable leg report ({exc})") from None
        if isinstance(data, dict) and {"name", "sha256", "size", "rows", "schema"} <= data.keys():
            reports[data["name"]] = data
    return reports


def planned_reports(plan: Path, reports: Path, cfg: dict) -> tuple[str, list[dict]]:
    """(species, the legs' reports of every planned file in chromosome order); Failure
    naming the planned files that have no report (their legs failed or did not run)."""
    try:
        planned = json.loads(plan.read_text())
        names = [f["name"] for f in planned["files"]]
        species = planned.get("species") or cfg["species"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Failure(f"{plan}: not the output of `make targets-json` ({exc})") from None
    found = load_reports(reports)
    wanted = [common.vcf_stem(n) + ".parquet" for n in names]
    missing = [p for p in wanted if p not in found]
    if missing:
        raise Failure(f"{len(missing)} of {len(wanted)} planned file(s) have no leg report in "
                      f"{reports}: {', '.join(missing)} (their legs failed or did not run); "
                      "nothing was published")
    return species, sorted((found[p] for p in wanted), key=lambda f: natural_key(f["name"]))


@app.command()
def check(reports: Path = typer.Argument(..., help="Directory holding the legs' JSON reports"),
          plan: Path = typer.Option(..., help="The JSON of `make targets-json` (the planned files)")):
    """Fail, naming them, when planned files have no leg report (no network)."""
    def go():
        _, facts = planned_reports(plan, reports, common.load_config())
        say(f"all {len(facts)} planned file(s) have a leg report "
            f"({sum(f['rows'] for f in facts):,} rows, {common.human_bytes(sum(f['size'] for f in facts))})")

    main_guard(go)


@app.command()
def report(parquet: Path = typer.Argument(..., help="One Parquet file of the species"),
           out: Path = typer.Argument(..., help="Where to write the JSON report")):
    """Write one Parquet file's facts (rows, size, schema, release, date, SHA-256) as JSON (no network)."""
    def go():
        facts = leg_report(parquet)
        common.atomic_write(out, (json.dumps(facts, indent=1) + "\n").encode())
        say(f"{out}: {facts['name']}, {facts['rows']:,} rows, sha256 {facts['sha256'][:12]}…")

    main_guard(go)


@app.command()
def stage(parquet: Path = typer.Argument(..., help="One Parquet file of the species"),
          revision: str = typer.Option(None, help="Staging branch (default: staging/<Ensembl release>)"),
          repo: str = REPO, create_repo: bool = CREATE_REPO):
    """Upload one Parquet file to data/<name> on the staging branch (created from main when missing)."""
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.utils import disable_progress_bars

    cfg = common.load_config()
    species = str(cfg["species"])
    if not sys.stderr.isatty():
        disable_progress_bars()

    def go():
        repo_id = species_repo(cfg, species, repo)
        if not parquet.is_file():
            raise Failure(f"{parquet}: no such Parquet file")
        facts = hubcard.parquet_facts(parquet)
        branch = revision or staging_branch(facts["release"])
        item = Item(f"data/{parquet.name}", local=parquet, size=facts["size"])
        api, _ = connect(cfg, repo_id, dry_run=False)
        with common.step(common.step_log_path(cfg), "upload-stage", f"datasets/{repo_id}@{branch}") as rec:
            rec.update(repo=repo_id, branch=branch, path=item.path_in_repo, bytes=item.size)
            if create_repo:
                hub_call(cfg, "creating the repo",
                         lambda: api.create_repo(repo_id, repo_type=REPO_TYPE, exist_ok=True))
            check_species(cfg, api, repo_id, species, "main")
            hub_call(cfg, f"creating the branch {branch}",
                     lambda: api.create_branch(repo_id, branch=branch, repo_type=REPO_TYPE, exist_ok=True))
            check_bytes([item])  # its digests, from the bytes staged: those written

            def attempt():  # several legs commit to the branch at once: look again on every try
                remote = branch_files(api, repo_id, branch, [item.path_in_repo])
                if remote is None:
                    api.create_branch(repo_id, branch=branch, repo_type=REPO_TYPE, exist_ok=True)
                    remote = {}
                decide(item, remote.get(item.path_in_repo))
                if item.action == "skip":
                    return None
                op = CommitOperationAdd(path_in_repo=item.path_in_repo, path_or_fileobj=str(parquet))
                op.upload_info.sha256 = bytes.fromhex(item.sha256)
                return api.create_commit(repo_id, [op], commit_message=f"stage {item.path_in_repo}",
                                         repo_type=REPO_TYPE, revision=branch)

            try:
                info = hub_call(cfg, f"staging {parquet.name}", attempt)
            except Exception as exc:  # noqa: BLE001
                failure = auth_failure(exc, repo_id)
                raise Failure(f"staging {parquet.name} on datasets/{repo_id}@{branch} failed: "
                              f"{failure or short(exc)}") from None
            rec["commit"] = info.oid if info else None
        if info is None:
            say(f"datasets/{repo_id}@{branch} already holds {item.path_in_repo} ({item.reason}): nothing sent")
        else:
            say(f"staged {item.path_in_repo} on datasets/{repo_id}@{branch}: {info.oid[:7]}")

    main_guard(go)


def differences(facts: list[dict], paths: list[str], remote: dict) -> list[str]:
    """How the remote files (RepoFile by path) differ from the legs' reports: [] when each
    is there with the reported size and LFS SHA-256."""
    wrong = []
    for f, path in zip(facts, paths):
        found = remote.get(path)
        if found is None:
            wrong.append(f"{path} is missing")
        elif found.lfs is None or found.lfs.sha256 != f["sha256"] or found.size != f["size"]:
            wrong.append(f"{path} differs from its leg's report (size {found.size} vs {f['size']}, "
                         f"sha256 {(found.lfs.sha256 if found.lfs else 'not LFS')[:12]} vs {f['sha256'][:12]})")
    return wrong


@app.command()
def gather(reports: Path = typer.Argument(..., help="Directory holding the legs' JSON reports"),
           plan: Path = typer.Option(..., help="The JSON of `make targets-json` (the planned files)"),
           revision: str = typer.Option(None, help="Staging branch (default: staging/<release> from the reports)"),
           repo: str = REPO, dry_run: bool = DRY_RUN,
           keep_branch: bool = typer.Option(False, help="Do not delete the staging branch afterwards.")):
    """Check the staging branch against the plan and the legs' reports, then publish it on
    main in ONE commit (server-side copies + dataset card) and delete the branch."""
    from huggingface_hub import CommitOperationAdd, CommitOperationCopy
    from huggingface_hub.utils import disable_progress_bars

    cfg = common.load_config()
    if not sys.stderr.isatty():
        disable_progress_bars()

    def go():
        species, facts = planned_reports(plan, reports, cfg)
        repo_id = species_repo(cfg, species, repo)
        release = hubcard.summary([f["release"] for f in facts])
        if release.startswith("mixed") and not revision:
            raise Failure(f"the legs' reports come from several Ensembl releases ({release}): pin "
                          "base_url to one release and run again; nothing was published")
        branch = revision or staging_branch(release)
        api, notes = connect(cfg, repo_id, dry_run)
        paths = [f"data/{f['name']}" for f in facts]
        staged = hub_call(cfg, "reading the staging branch", lambda: branch_files(api, repo_id, branch, paths))
        on_main = None
        if staged is None:  # a gather run again after it published (and deleted the branch)?
            on_main = hub_call(cfg, "reading main", lambda: branch_files(api, repo_id, "main", paths)) or {}
            if differences(facts, paths, on_main):
                raise Failure(f"datasets/{repo_id} has no branch {branch}: the legs staged nothing "
                              "(publishing off, or all legs failed); nothing was published")
            say(f"datasets/{repo_id} has no branch {branch}, and main already holds the {len(paths)} reported "
                "file(s): an earlier gather published them")
        elif wrong := differences(facts, paths, staged):
            raise Failure(f"the staging branch datasets/{repo_id}@{branch} does not hold the planned files: "
                          + "; ".join(wrong) + "; main is unchanged")
        check_species(cfg, api, repo_id, species, "main")
        record = next((f["first_record"] for f in facts if f.get("first_record")), None)
        card = hubcard.card_from_facts(repo_id, species, facts, record).encode()
        items = [Item(p, size=f["size"], sha256=f["sha256"]) for p, f in zip(paths, facts)]
        items.append(Item("README.md", data=card, size=len(card)))
        fill_digests(items[-1:], DigestCache(Path(cfg["cache_dir"]) / DIGEST_CACHE))
        log = common.step_log_path(cfg) if not dry_run else None

        def publish_once(rec: dict):
            state = hub_call(cfg, "reading main", lambda: remote_state(api, repo_id, [i.path_in_repo for i in items]))
            if state is None:
                raise Failure(f"dataset repo {repo_id} not found on {api.endpoint}")
            head, remote, _ = state
            for item in items:
                decide(item, remote.get(item.path_in_repo))
            print_plan(repo_id, head, items, notes)
            rec["uploaded"] = [{"path": i.path_in_repo, "bytes": i.size, "reason": i.reason}
                               for i in items if i.action == "upload"]
            if dry_run:
                print("dry run: nothing was sent to the Hub")
                return None
            if not rec["uploaded"]:
                say(f"nothing changed on datasets/{repo_id}: no commit")
                return None
            ops = []
            for item in items:
                if item.action != "upload":
                    continue
                if item.data is not None:
                    ops.append(CommitOperationAdd(path_in_repo=item.path_in_repo, path_or_fileobj=item.data))
                else:
                    ops.append(CommitOperationCopy(src_path_in_repo=item.path_in_repo,
                                                   path_in_repo=item.path_in_repo, src_revision=branch))
            summary, description = commit_message(f"Ensembl release {release}", "Parquet files", items)
            state_box = {"head": head, "first": True}

            def attempt():
                if not state_box["first"]:  # a lost answer: did the commit go through?
                    new_head, new_remote, _ = remote_state(api, repo_id, [i.path_in_repo for i in items])
                    if all(i.action != "upload" or unchanged(i, new_remote.get(i.path_in_repo)) for i in items):
                        return new_head
                    state_box["head"] = new_head
                state_box["first"] = False
                return api.create_commit(repo_id, ops, commit_message=summary,
                                         commit_description=description + f"\n\nCopied from {branch}.",
                                         repo_type=REPO_TYPE, parent_commit=state_box["head"]).oid

            try:
                oid = hub_call(cfg, "publishing on main", attempt)
            except Exception as exc:  # noqa: BLE001
                failure = auth_failure(exc, repo_id)
                raise Failure(f"the final commit to datasets/{repo_id} failed: {failure or short(exc)}. "
                              "Nothing was committed (main is as it was); the staging branch is kept: "
                              "run the gather again") from None
            rec["commit"] = oid
            say(f"committed {oid[:7]} to datasets/{repo_id} main ({len(ops)} file(s) from {branch})")
            return oid

        if log is None:
            publish_once({})
            return
        with common.step(log, "upload-gather", f"datasets/{repo_id}") as rec:
            rec.update(repo=repo_id, branch=branch, files=len(facts))
            publish_once(rec)
            if not keep_branch and on_main is None:
                try:
                    hub_call(cfg, f"deleting the branch {branch}",
                             lambda: api.delete_branch(repo_id, branch=branch, repo_type=REPO_TYPE))
                    say(f"deleted the staging branch {branch}")
                except Exception as exc:  # noqa: BLE001 - main is published; a stale branch is harmless
                    say(f"warning: could not delete the branch {branch}: {short(exc)}")

    main_guard(go)


if __name__ == "__main__":
    app()

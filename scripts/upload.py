"""Publish the prepared data on the Hugging Face Hub.

ensembl: the Parquet targets of the species' discovery manifest (vcf_urls.json),
nothing else, go to the dataset repo hf_ensembl_repo under data/, with a generated
dataset card. A target that is missing or older than its VCF stops the upload
(--allow-partial: publish the others, the card says which are included).
One repo holds one species: hf_ensembl_repo is homo_sapiens', another species
goes to <hf_ensembl_repo>_<species> (or --repo).
longevitymap: the module tables, manifest.json, metadata.yaml and the logo
file (if any) go to hf_modules_repo under data/longevitymap/.

A file is sent only when its SHA-256 differs from the one the Hub reports;
all changes go in one atomic commit; no commit when nothing changed.
--dry-run prints the plan and writes nothing to the Hub. The token comes
from HF_TOKEN or the Hugging Face login cache (`hf auth login`).

Two-phase publishing for CI fan-out (one runner per file, see README "Running on
CI runners"):
report: one Parquet file's facts (rows, size, schema, release, date, SHA-256,
first record) -> a small JSON report (no network).
stage: one Parquet file -> data/<name> on the staging branch staging/<release>
of hf_ensembl_repo (created from main when missing; skipped when it already holds
the same SHA-256).
gather: check that the staging branch holds exactly the planned files (sizes and
LFS SHA-256 against the legs' reports), then ONE commit on main that copies them
server-side together with the dataset card made from the reports, and delete the
staging branch. No commit when nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import typer

import common
import fetch
import hubcard
from common import Failure, say
from hubcard import MODULE_TABLES, natural_key
from longevitymap import MODULE, module_dir

DIGEST_CACHE = "upload_digests.json"  # under the cache root
REPO_TYPE = "dataset"
CHUNK = 1 << 20

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)

DRY_RUN = typer.Option(False, "--dry-run", help="Print the plan; send nothing, commit nothing.")
CREATE_REPO = typer.Option(False, "--create-repo", help="Create the dataset repo if it does not exist.")
REPO = typer.Option(None, "--repo", help="Dataset repo id (default: from config).")


# --- what to upload -----------------------------------------------------------------

@dataclass
class Item:
    """One file of the commit: a local file, or generated content (card, metadata)."""
    path_in_repo: str
    local: Path | None = None
    data: bytes | None = None
    size: int = 0
    sha256: str = ""
    git_sha1: str = ""  # git blob id: how the Hub names a non-LFS file's content
    action: str = ""    # upload | skip
    reason: str = ""

    @property
    def new(self) -> bool:
        return self.reason.startswith("new")


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


def module_files(cfg: dict) -> list[Path]:
    folder = module_dir(cfg)
    files = [folder / f"{t}.parquet" for t in MODULE_TABLES]
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise Failure(f"{folder} has no {', '.join(missing)}: run `make longevitymap` first")
    return files


def module_logo(cfg: dict) -> Path | str | None:
    """The module's logo: config longevitymap_logo (a URL, or a local png/jpg/jpeg file),
    else a logo.{png,jpg,jpeg} in the module directory, else None (the default URL)."""
    setting = str(cfg.get("longevitymap_logo") or "").strip()
    if re.match(r"https?://", setting):
        return setting
    if setting:
        path = Path(setting).expanduser()
        if path.suffix.lower().lstrip(".") not in hubcard.LOGO_EXTENSIONS:
            raise Failure(f"{path}: longevitymap_logo must be a .png, .jpg or .jpeg file (or a URL)")
        if not path.is_file():
            raise Failure(f"{path}: no such file (longevitymap_logo)")
        return path
    for ext in hubcard.LOGO_EXTENSIONS:
        path = module_dir(cfg) / f"logo.{ext}"
        if path.is_file():
            return path
    return None


def check_version(version: str) -> str:
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise Failure(f"longevitymap_version {version!r} is not MAJOR.MINOR.PATCH (e.g. 1.0.0)")
    return version


# --- one species per Ensembl dataset repo -------------------------------------------------
# The consumer downloads every data/*.parquet of the repo and reads them as one set, so a
# repo holds one species: hf_ensembl_repo is homo_sapiens', any other species goes to
# <hf_ensembl_repo>_<species> unless --repo names its repo.

DEFAULT_SPECIES = "homo_sapiens"
SPECIES_WORD = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+")  # mus_musculus, canis_lupus_familiaris


def ensembl_repo(cfg: dict, species: str) -> str:
    """The species' default dataset repo: hf_ensembl_repo for homo_sapiens, else
    <hf_ensembl_repo>_<species>."""
    base = str(cfg["hf_ensembl_repo"])
    return base if species == DEFAULT_SPECIES else f"{base}_{species}"


def species_repo(cfg: dict, species: str, repo: str | None) -> str:
    """The dataset repo for ``species``: --repo, else its default (ensembl_repo). Another
    species than homo_sapiens in hf_ensembl_repo itself is refused before any request."""
    repo_id = repo or ensembl_repo(cfg, species)
    if species != DEFAULT_SPECIES and repo_id == cfg["hf_ensembl_repo"]:
        raise Failure(f"refusing to upload {species} to datasets/{repo_id}: hf_ensembl_repo is the "
                      f"{DEFAULT_SPECIES} dataset (one repo holds one species); {species} goes to "
                      f"{ensembl_repo(cfg, species)} by default, or pass another --repo. Nothing was sent.")
    return repo_id


def file_species(path: str) -> str:
    """data/mus_musculus-chr1.parquet -> mus_musculus (the name before the first '-')."""
    return path.rsplit("/", 1)[-1].removesuffix(".parquet").split("-", 1)[0]


def card_species(text: str) -> set[str]:
    """The species a dataset card names: its configs' names and data_files paths, its
    species-like tags, and the "Ensembl variations: <species>" / "(<species>," titles
    that hubcard writes."""
    import yaml

    named: set[str] = set()
    m = re.match(r"---\n(.*?)\n---\n", text, re.S)
    front = {}
    if m:
        try:
            front = yaml.safe_load(m.group(1)) or {}
        except yaml.YAMLError:
            front = {}
    if isinstance(front, dict):
        for conf in front.get("configs") or []:
            if not isinstance(conf, dict):
                continue
            named.add(str(conf.get("config_name") or ""))
            files = conf.get("data_files") or []
            for entry in files if isinstance(files, list) else [files]:
                paths = entry.get("path") if isinstance(entry, dict) else entry
                for path in paths if isinstance(paths, list) else [paths]:
                    if isinstance(path, str) and path.endswith(".parquet"):
                        named.add(file_species(path))
        named |= {str(t) for t in front.get("tags") or []}
    named |= set(re.findall(r"Ensembl variations(?::\s*|\s*\()([a-z0-9_]+)", text))
    return {n for n in named if SPECIES_WORD.fullmatch(n)}


def check_species(cfg: dict, api, repo_id: str, species: str, revision: str) -> None:
    """Raise Failure, before anything is sent, when datasets/<repo_id> holds Parquet files
    of another species or a dataset card that names another species."""
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session

    info = hub_call(cfg, "reading the repo", lambda: api.repo_info(
        repo_id, repo_type=REPO_TYPE, revision=revision))
    names = [s.rfilename for s in info.siblings or []]
    others = sorted(n for n in names if n.startswith("data/") and n.endswith(".parquet")
                    and file_species(n) != species)
    why = ""
    if others:
        kinds = sorted({file_species(n) for n in others})
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        why = f"it holds {', '.join(kinds)} data ({shown})"
    elif "README.md" in names:
        url = hf_hub_url(repo_id, "README.md", repo_type=REPO_TYPE, revision=revision,
                         endpoint=api.endpoint)

        def get_card():
            response = get_session().get(url, headers=build_hf_headers(token=api.token))
            response.raise_for_status()
            return response.text

        named = card_species(hub_call(cfg, "reading the dataset card", get_card)) - {species}
        if named:
            why = f"its dataset card (README.md) names {', '.join(sorted(named))}"
    if why:
        raise Failure(
            f"refusing to upload {species} to datasets/{repo_id}: {why}. One dataset repo holds "
            f"one species (the consumer reads every data/*.parquet of a repo as one set); "
            f"{species} goes to its own repo, {ensembl_repo(cfg, species)} by default, or pass "
            f"--repo. Nothing was sent.")


# --- local digests, cached by (path, size, mtime_ns) -----------------------------------

class DigestCache:
    """SHA-256 and git blob id of local files, keyed by absolute path and valid while
    size and mtime_ns are unchanged, so a re-run does not read gigabytes again."""

    def __init__(self, path: Path):
        self.path = path
        self.entries: dict[str, dict] = {}
        self.dirty = False
        try:
            self.entries = json.loads(path.read_text())
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            say(f"warning: ignoring the unreadable digest cache {path}: {exc}")

    def digests(self, path: Path) -> tuple[str, str]:
        st = path.stat()
        key = str(path.resolve())
        entry = self.entries.get(key)
        if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
            return entry["sha256"], entry["git_sha1"]
        sha256, git_sha1 = hash_file(path, st.st_size)
        self.entries[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                             "sha256": sha256, "git_sha1": git_sha1}
        self.dirty = True
        return sha256, git_sha1

    def save(self) -> None:
        if not self.dirty:
            return
        # Keep only files that still exist; merge what a concurrent run may have added.
        try:
            current = json.loads(self.path.read_text())
        except (OSError, ValueError):
            current = {}
        current.update(self.entries)
        current = {k: v for k, v in current.items() if Path(k).exists()}
        try:
            common.atomic_write(self.path, json.dumps(current, indent=1, sort_keys=True).encode())
        except OSError as exc:
            say(f"warning: could not write the digest cache {self.path}: {exc}")


def hash_file(path: Path, size: int) -> tuple[str, str]:
    """SHA-256 (the LFS oid) and git blob SHA-1 of a file, in one read."""
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % size)
    progress = common.Progress(f"hashing {path.name}", total=size)
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                sha256.update(chunk)
                sha1.update(chunk)
                progress.update(len(chunk))
    finally:
        progress.close()
    return sha256.hexdigest(), sha1.hexdigest()


def fill_digests(items: list[Item], cache: DigestCache) -> None:
    for item in items:
        if item.sha256:
            continue
        if item.local is not None:
            item.sha256, item.git_sha1 = cache.digests(item.local)
        else:
            item.sha256 = hashlib.sha256(item.data).hexdigest()
            item.git_sha1 = hashlib.sha1(b"blob %d\0" % len(item.data) + item.data).hexdigest()


# --- talking to the Hub -----------------------------------------------------------------

RETRY_STATUS = {408, 409, 412, 429, 500, 502, 503, 504}
# Transport errors by class name, so that any HTTP library the client uses (httpx,
# httpx2, requests) is recognised without importing it.
RETRY_NAMES = {"TransportError", "TimeoutException", "NetworkError", "RemoteProtocolError",
               "ConnectionError", "Timeout", "ChunkedEncodingError"}


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None) if response is not None else None


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def retryable(exc: BaseException) -> bool:
    for e in _chain(exc):
        status = _status(e)
        if status is not None:
            return status in RETRY_STATUS
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        if any(c.__name__ in RETRY_NAMES for c in type(e).__mro__):
            return True
    return False


def first_status(exc: BaseException) -> int | None:
    for e in _chain(exc):
        if _status(e) is not None:
            return _status(e)
    return None


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def retry_after(exc: BaseException) -> float | None:
    for e in _chain(exc):
        response = getattr(e, "response", None)
        if response is not None and getattr(response, "headers", None) is not None:
            return fetch.retry_after_seconds(response.headers.get("Retry-After"))
    return None


def hub_call(cfg: dict, what: str, fn):
    """fn() with fetch.with_retries: network errors, timeouts, 408/409/412/429/5xx are
    retried (config retries, retry_backoff with jitter, a 429's Retry-After); other
    errors pass through unchanged. Giving up raises Failure."""
    def once():
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - sorted by retryable()
            if retryable(exc):
                raise fetch.Retryable(short(exc), retry_after(exc)) from exc
            raise

    return fetch.with_retries(what, cfg, once)


def auth_failure(exc: BaseException, repo_id: str) -> Failure | None:
    status = first_status(exc)
    if status == 401:
        return Failure("the Hugging Face Hub rejected the token (401 Unauthorized): set a valid "
                       "write token in HF_TOKEN or run `hf auth login`")
    if status == 403:
        return Failure(f"the token may not write to datasets/{repo_id} (403 Forbidden): use a "
                       "token with write access to that repo or its organisation")
    return None


def write_access(me: dict, repo_id: str) -> str | None:
    """Why the token of whoami answer ``me`` cannot write to datasets/<repo_id>, or
    None when it can (or when whoami does not tell: then the Hub decides).
    read token: no. write token: only in the user's own namespace or an organisation
    the user belongs to with more than read rights. Fine-grained token: needs
    repo.write globally, on the namespace (user/org) or on that dataset."""
    namespace = repo_id.split("/")[0]
    user = me.get("name", "?")
    token = (me.get("auth") or {}).get("accessToken") or {}
    role = token.get("role")
    if role == "read":
        return f"the token of {user} is read-only"
    if role == "fineGrained":
        scopes = token.get("fineGrained") or {}
        if "repo.write" in (scopes.get("global") or []):
            return None
        for scope in scopes.get("scoped") or []:
            entity = scope.get("entity") or {}
            if "repo.write" not in (scope.get("permissions") or []):
                continue
            if entity.get("type") in ("user", "org") and entity.get("name") == namespace:
                return None
            if entity.get("type") == "dataset" and entity.get("name") == repo_id:
                return None
        return (f"the fine-grained token of {user} has no repo.write permission on "
                f"{namespace} or datasets/{repo_id}")
    if role == "write" and namespace != user and "orgs" in me:
        org = next((o for o in me["orgs"] or [] if o.get("name") == namespace), None)
        if org is None:
            return f"{user} is not a member of the organisation {namespace}"
        if org.get("roleInOrg") == "read":
            return f"{user} has only read access in the organisation {namespace}"
    return None


def connect(cfg: dict, repo_id: str, dry_run: bool):
    """Return (HfApi, notes). Checks the token, and that it may write to the repo,
    before anything is hashed or sent. A dry run goes on without a (valid) token and
    says what a real run would do."""
    from huggingface_hub import HfApi, get_token

    token = get_token()
    if token is None:
        message = ("no Hugging Face token: set HF_TOKEN or run `hf auth login` "
                   "(a write token for the target organisation)")
        if not dry_run:
            raise Failure(message)
        return HfApi(token=False), [f"{message} - a real upload would stop here"]
    api = HfApi(token=token)
    try:
        me = hub_call(cfg, "checking the token", lambda: api.whoami())
    except Exception as exc:  # noqa: BLE001
        failure = auth_failure(exc, repo_id) or Failure(
            f"could not check the token with {api.endpoint}: {short(exc)} (check the network "
            "or HF_ENDPOINT, then run again)")
        if not dry_run:
            raise failure from None
        return HfApi(token=False), [f"{failure} - a real upload would stop here"]
    denied = write_access(me, repo_id)
    if denied:
        message = (f"{denied}, so it may not write to datasets/{repo_id}: use a token with "
                   "write access to that repo or its organisation")
        if not dry_run:
            raise Failure(message)
        return api, [f"{message} - a real upload would stop here"]
    say(f"authenticated as {me.get('name', '?')} on {api.endpoint}")
    return api, []


def remote_state(api, repo_id: str, paths: list[str]):
    """(head commit, {path: RepoFile}) of the repo, or None when it does not exist."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = api.repo_info(repo_id, repo_type=REPO_TYPE)
    except RepositoryNotFoundError:
        return None
    files = {}
    for i in range(0, len(paths), 500):
        for entry in api.get_paths_info(repo_id, paths[i:i + 500], repo_type=REPO_TYPE,
                                        revision=info.sha):
            if hasattr(entry, "blob_id"):
                files[entry.path] = entry
    return info.sha, files


def unchanged(item: Item, remote) -> bool:
    """Does the remote file (RepoFile or None) hold the item's content? An LFS file is
    compared by SHA-256, any other by its git blob id."""
    if remote is None:
        return False
    return remote.lfs.sha256 == item.sha256 if remote.lfs is not None else remote.blob_id == item.git_sha1


def decide(item: Item, remote) -> None:
    """Set item.action and item.reason from the remote file (RepoFile or None)."""
    same = unchanged(item, remote)
    item.action = "skip" if same else "upload"
    if remote is None:
        item.reason = "new (not on the Hub)"
    elif remote.lfs is not None:
        item.reason = "unchanged (same SHA-256)" if same else "changed (SHA-256 differs)"
    else:
        item.reason = "unchanged (same content)" if same else "changed (content differs)"


def print_plan(repo_id: str, head: str | None, items: list[Item], notes: list[str],
               aside: list[Item] = ()) -> None:
    where = f"datasets/{repo_id}" + (f" at {head[:7]}" if head else "")
    print(f"Plan for {where}:")
    width = max(len(i.path_in_repo) for i in [*items, *aside])
    for i in [*items, *aside]:  # aside: local files not sent (ignored strays, omitted targets)
        size = common.human_bytes(i.size) if i.local else "-"
        print(f"  {i.action:<6}  {i.path_in_repo:<{width}}  {size:>10}  {i.reason}")
    send = [i for i in items if i.action == "upload"]
    to_send = sum(i.size for i in send)
    kept = sum(i.size for i in items if i.action != "upload")
    print(f"{len(send)} of {len(items)} files to upload, {common.human_bytes(to_send)} to send "
          f"({to_send:,} bytes); {len(items) - len(send)} skipped ({common.human_bytes(kept)} not sent)"
          + "".join(f"; {n} {what}" for what in ("ignore", "omit")
                    if (n := sum(1 for i in aside if i.action == what)))
          + ".")
    for note in notes:
        print(f"note: {note}")


def commit_message(kind: str, items: list[Item], release: str | None) -> tuple[str, str]:
    data = [i for i in items if i.path_in_repo.endswith(".parquet")]
    send = [i for i in data if i.action == "upload"]
    new = sum(1 for i in send if i.new)
    parts = []
    if new:
        parts.append(f"add {new}")
    if len(send) - new:
        parts.append(f"update {len(send) - new}")
    what = "Parquet files" if kind == "ensembl" else "tables"
    summary = f"{' and '.join(parts)} of {len(data)} {what}" if parts else ""
    extras = [i.path_in_repo.rsplit("/", 1)[-1] for i in items
              if i.action == "upload" and not i.path_in_repo.endswith(".parquet")]
    if extras:
        summary = f"{summary}, {', '.join(extras)}" if summary else f"update {', '.join(extras)}"
    head = f"Ensembl release {release}" if kind == "ensembl" else f"{MODULE} module"
    summary = f"{head}: {summary}"
    description = "\n".join(f"- {i.path_in_repo}: {i.reason}" for i in items)
    return summary, description + "\n\nPublished by prepare-annotations (scripts/upload.py)."


def publish(cfg: dict, kind: str, repo_id: str, items: list[Item], dry_run: bool,
            create_repo: bool, record: dict, release: str | None = None, guard=None) -> None:
    from huggingface_hub import CommitOperationAdd
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
            raise Failure(f"dataset repo {repo_id} not found on {api.endpoint} (or not visible to "
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
    head, remote = state
    for item in items:
        decide(item, remote.get(item.path_in_repo))
    print_plan(repo_id, head, items, notes, aside)
    record["uploaded"] = [{"path": i.path_in_repo, "bytes": i.size, "reason": i.reason}
                          for i in items if i.action == "upload"]
    record["skipped"] = [{"path": i.path_in_repo, "reason": i.reason}
                         for i in items if i.action != "upload"]
    if dry_run:
        print("dry run: nothing was sent to the Hub")
        return
    if not record["uploaded"]:
        say(f"nothing changed on datasets/{repo_id}: no commit")
        record.update(commit=None, bytes_sent=0)
        return

    state_box = {"head": head, "first": True}

    def attempt():
        if not state_box["first"]:
            # Someone may have committed meanwhile, or the last attempt went through:
            # look again so the retry commits only what still differs.
            new_head, new_remote = remote_state(api, repo_id, paths)
            for item in items:
                decide(item, new_remote.get(item.path_in_repo))
            state_box["head"] = new_head
            if not any(i.action == "upload" for i in items):
                return None
        state_box["first"] = False
        ops = []
        for item in items:
            if item.action != "upload":
                continue
            op = CommitOperationAdd(path_in_repo=item.path_in_repo,
                                    path_or_fileobj=str(item.local) if item.local else item.data)
            op.upload_info.sha256 = bytes.fromhex(item.sha256)  # known: do not read the file again
            ops.append(op)
        summary, description = commit_message(kind, items, release)
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
    if info is None:
        say(f"nothing left to change on datasets/{repo_id}: no commit")
        record["commit"] = None
        return
    record["commit"] = info.oid
    record["commit_url"] = str(info.commit_url)
    say(f"committed {info.oid[:7]} to datasets/{repo_id}: {info.commit_url}")


def run(kind: str, cfg: dict, log_path: Path, repo_id: str, items_fn, dry_run: bool,
        create_repo: bool, guard=None) -> None:
    if repo_id.count("/") != 1 or not all(common.SAFE_NAME.fullmatch(p) for p in repo_id.split("/")):
        common.die(f"repo id {repo_id!r} is not <organisation>/<name> (letters, digits, . - _)", code=2)
    items, release = items_fn()
    if dry_run:
        publish(cfg, kind, repo_id, items, dry_run, create_repo, {}, release, guard)
        return
    with common.step(log_path, f"upload-{kind}", f"datasets/{repo_id}") as record:
        record["repo"] = repo_id
        record["kind"] = kind  # with uploaded, skipped, commit, commit_url, bytes_sent: `status` reads them
        publish(cfg, kind, repo_id, items, dry_run, create_repo, record, release, guard)


def main_guard(fn) -> None:
    try:
        with common.exit_on_failure("upload"):
            fn()
    except KeyboardInterrupt:
        common.die("interrupted; nothing was committed unless a commit id was printed", code=130)


@app.command()
def ensembl(dry_run: bool = DRY_RUN, create_repo: bool = CREATE_REPO, repo: str = REPO,
            species: str = typer.Option(None, help="Ensembl species (default: from config)."),
            allow_partial: bool = typer.Option(
                False, "--allow-partial", help="Publish the ready files when some of the discovery "
                "manifest's Parquet files are missing or older than their VCF (the card says which).")):
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
        return items + aside, hubcard.summary([f["release"] for f in facts])

    main_guard(lambda: run("ensembl", cfg, common.step_log_path(cfg), repo_id, items_fn,
                           dry_run, create_repo,
                           guard=lambda api, head: check_species(cfg, api, repo_id, species, head)))


@app.command()
def longevitymap(dry_run: bool = DRY_RUN, create_repo: bool = CREATE_REPO, repo: str = REPO):
    """Upload the LongevityMap module tables, manifest.json, metadata.yaml and logo to <repo>/data/longevitymap/."""
    cfg = common.load_config()
    repo_id = repo or cfg["hf_modules_repo"]

    def items_fn():
        check_version(str(cfg["longevitymap_version"]))
        files = module_files(cfg)
        for p in files:
            hubcard.parquet_facts(p)  # fail early on an unreadable table
        logo = module_logo(cfg)
        logo_file = logo if isinstance(logo, Path) else None
        items = [Item(f"data/{MODULE}/{p.name}", local=p, size=p.stat().st_size) for p in files]
        if logo_file:
            items.append(Item(f"data/{MODULE}/{hubcard.logo_name(logo_file)}", local=logo_file,
                              size=logo_file.stat().st_size))
        manifest = hubcard.module_manifest(cfg, files, logo_file).encode()
        items.append(Item(f"data/{MODULE}/manifest.json", data=manifest, size=len(manifest)))
        meta = hubcard.module_metadata(cfg, logo).encode()
        items.append(Item(f"data/{MODULE}/metadata.yaml", data=meta, size=len(meta)))
        return items, None

    main_guard(lambda: run("longevitymap", cfg, module_dir(cfg) / "steps.jsonl", repo_id,
                           items_fn, dry_run, create_repo))


# --- two-phase publishing for CI legs ------------------------------------------------------

def staging_branch(release: str) -> str:
    return f"staging/{release}"


def leg_report(path: Path) -> dict:
    """The facts of one Parquet file a leg reports: parquet_facts + SHA-256 + the first
    record (the card's example), everything the gather needs without the file."""
    facts = hubcard.parquet_facts(path)
    facts["sha256"], _ = hash_file(path, facts["size"])
    record = hubcard.first_record(path)
    facts["first_record"] = ({"chrom": str(record["chrom"]), "start": int(record["start"])}
                             if record else None)
    return facts


def branch_files(api, repo_id: str, branch: str, paths: list[str]) -> dict:
    """{path: RepoFile} of ``paths`` on ``branch``; None when the branch does not exist."""
    from huggingface_hub.errors import RevisionNotFoundError

    try:
        entries = api.get_paths_info(repo_id, paths, repo_type=REPO_TYPE, revision=branch)
    except RevisionNotFoundError:
        return None
    return {e.path: e for e in entries if hasattr(e, "blob_id")}


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
            fill_digests([item], DigestCache(Path(cfg["cache_dir"]) / DIGEST_CACHE))

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
        if staged is None:
            raise Failure(f"datasets/{repo_id} has no branch {branch}: the legs staged nothing "
                          "(publishing off, or all legs failed); nothing was published")
        wrong = []
        for f, path in zip(facts, paths):
            remote = staged.get(path)
            if remote is None:
                wrong.append(f"{path} is missing")
            elif remote.lfs is None or remote.lfs.sha256 != f["sha256"] or remote.size != f["size"]:
                wrong.append(f"{path} differs from its leg's report (size {remote.size} vs {f['size']}, "
                             f"sha256 {(remote.lfs.sha256 if remote.lfs else 'not LFS')[:12]} vs {f['sha256'][:12]})")
        if wrong:
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
            head, remote = state
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
            summary, description = commit_message("ensembl", items, release)
            state_box = {"head": head, "first": True}

            def attempt():
                if not state_box["first"]:  # a lost answer: did the commit go through?
                    new_head, new_remote = remote_state(api, repo_id, [i.path_in_repo for i in items])
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
            if not keep_branch:
                try:
                    hub_call(cfg, f"deleting the branch {branch}",
                             lambda: api.delete_branch(repo_id, branch=branch, repo_type=REPO_TYPE))
                    say(f"deleted the staging branch {branch}")
                except Exception as exc:  # noqa: BLE001 - main is published; a stale branch is harmless
                    say(f"warning: could not delete the branch {branch}: {short(exc)}")

    main_guard(go)


if __name__ == "__main__":
    app()

"""Talking to the Hugging Face Hub, for both ways of publishing (upload.py from one
machine, publish_ci.py from CI legs and their gather): the client and its token check,
retries, the local SHA-256 digest cache, the one-species-per-repo guard, the remote
state of a repo or branch. The plan that compares local files with it is hubplan.py.

No command of its own: upload.py and publish_ci.py are the command lines.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import typer

import common
import fetch
import outputs
from common import Failure, Refusal, say

DIGEST_CACHE = "upload_digests.json"  # under the cache root
REPO_TYPE = "dataset"
CHUNK = 1 << 20

# Options shared by the commands of upload.py and publish_ci.py.
DRY_RUN = typer.Option(False, "--dry-run", help="Print the plan; send nothing, commit nothing.")
CREATE_REPO = typer.Option(False, "--create-repo", help="Create the dataset repo if it does not exist.")
REPO = typer.Option(None, "--repo", help="Dataset repo id (default: from config).")


# --- one file of a commit ---------------------------------------------------------------

@dataclass
class Item:
    """One file of the commit: a local file, or generated content (card, metadata)."""
    path_in_repo: str
    local: Path | None = None
    data: bytes | None = None
    size: int = 0
    sha256: str = ""
    git_sha1: str = ""  # git blob id: how the Hub names a non-LFS file's content
    action: str = ""    # upload | skip | delete | stale (on the Hub, kept: listed only) | ignore | omit
    reason: str = ""

    @property
    def new(self) -> bool:
        return self.reason.startswith("new")


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
        raise Refusal(f"refusing to upload {species} to datasets/{repo_id}: hf_ensembl_repo is the "
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
        raise Refusal(
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
        self.read_now: set[str] = set()  # files whose bytes this run has read (not from the cache)
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
        self.read_now.add(key)
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


def check_bytes(items: list[Item], cache: DigestCache | None = None) -> None:
    """Hash the bytes of each local file about to be sent (not from the digest cache, which
    cannot see bit rot under an unchanged size and mtime; a file ``cache`` read in this run
    is not read twice) and refuse, naming them, the files whose bytes are not those
    recorded when they were written, or not those hashed for the plan. A file with no
    record is sent with a warning."""
    bad = []
    for item in items:
        if item.local is None:
            continue
        if cache is not None and item.sha256 and str(item.local.resolve()) in cache.read_now:
            sha256, git_sha1 = item.sha256, item.git_sha1
        else:
            sha256, git_sha1 = hash_file(item.local, item.local.stat().st_size)
        problem = outputs.check(item.local, sha256)
        if problem is None and item.sha256 and sha256 != item.sha256:
            problem = (f"{item.local}: its bytes changed after they were hashed for the plan "
                       f"(SHA-256 {sha256[:12]}…, {item.sha256[:12]}… before)")
        if problem:
            bad.append(problem)
        elif outputs.recorded(item.local) is None and item.local.suffix == ".parquet":
            say(f"warning: {item.local}: no size and SHA-256 were recorded when it was written (made by an "
                "earlier version, or elsewhere): its bytes cannot be checked against what was written")
        item.sha256, item.git_sha1 = sha256, git_sha1
    if bad:
        raise Refusal("refusing to upload: " + "; ".join(bad) + ". Nothing was sent.")


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
            raise Refusal(message)
        return HfApi(token=False), [f"{message} - a real upload would stop here"]
    api = HfApi(token=token)
    try:
        me = hub_call(cfg, "checking the token", lambda: api.whoami())
    except Exception as exc:  # noqa: BLE001
        rejected = auth_failure(exc, repo_id)
        failure = Refusal(str(rejected)) if rejected else Failure(
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
            raise Refusal(message)
        return api, [f"{message} - a real upload would stop here"]
    say(f"authenticated as {me.get('name', '?')} on {api.endpoint}")
    return api, []


def remote_state(api, repo_id: str, paths: list[str]):
    """(head commit, {path: RepoFile} of ``paths``, every file path at that commit) of the
    repo, or None when it does not exist."""
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
    return info.sha, files, sorted(s.rfilename for s in info.siblings or [])


def branch_files(api, repo_id: str, branch: str, paths: list[str]) -> dict:
    """{path: RepoFile} of ``paths`` on ``branch``; None when the branch does not exist."""
    from huggingface_hub.errors import RevisionNotFoundError

    try:
        entries = api.get_paths_info(repo_id, paths, repo_type=REPO_TYPE, revision=branch)
    except RevisionNotFoundError:
        return None
    return {e.path: e for e in entries if hasattr(e, "blob_id")}


def main_guard(fn) -> None:
    try:
        with common.exit_on_failure("upload"):
            fn()
    except KeyboardInterrupt:
        common.die("interrupted; nothing was committed unless a commit id was printed", code=130)

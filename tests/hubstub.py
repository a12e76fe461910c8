"""A stand-in for the Hugging Face Hub: a real HTTP server on 127.0.0.1 that
implements just the endpoints the real ``huggingface_hub`` client calls when
``scripts/upload.py`` publishes a dataset (LFS "basic" transfer, no Xet):

    GET  /api/whoami-v2
    GET  /api/datasets/<ns>/<name>[/revision/<rev>]        repo info (head sha)
    POST /api/datasets/<ns>/<name>/paths-info/<rev>        remote file info (LFS sha256)
    POST /api/datasets/<ns>/<name>/preupload/<rev>         upload mode per file
    POST /datasets/<ns>/<name>.git/info/lfs/objects/batch  LFS batch (upload actions)
    PUT  /lfs-upload/<oid>                                 LFS object upload
    POST /lfs-verify                                       LFS verify
    POST /api/validate-yaml                                README.md front matter check
    POST /api/datasets/<ns>/<name>/commit/<rev>            atomic commit (ndjson: files added, LFS
                                                           files, files deleted)
    POST /api/repos/create                                 create a repo
    GET  /datasets/<ns>/<name>/resolve/<rev>/<path>        a file's content (e.g. README.md)
    GET  /api/datasets/<ns>/<name>/refs                    branches (list_repo_refs)
    POST /api/datasets/<ns>/<name>/branch/<branch>         create a branch (startingPoint)
    DELETE /api/datasets/<ns>/<name>/branch/<branch>       delete a branch

Every <rev> may name main, a branch (URL-quoted, e.g. staging%2F115) or a commit of
main; commits to a branch change only that branch. A commit's lfsFile lines may
carry no size: that is how the client sends a CommitOperationCopy of an LFS file
(server-side copy of an object the Hub already has).

Files live in memory, so tests can assert exactly what was committed. Tokens
have a role ("write", "read" or "fineGrained"), the organisations of their user
and, for fine-grained ones, the scoped permissions whoami reports; whether the
Hub lets them write is set separately (``can_write``), so a test can make whoami
and the write endpoints disagree. ``fail(method, pattern, action, times,
headers)`` injects faults: an HTTP status (with extra headers, e.g.
Retry-After), ``"drop"`` to close the connection without an answer, or
``"drop-after"`` to carry out the request and then close the connection
instead of answering (a commit whose response is lost). Every request is logged
in ``requests`` as ``(method, path)``; endpoints not listed above answer 404 and
are logged in ``unknown``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n"


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    lfs_paths: set[str] = field(default_factory=set)
    commits: list[dict] = field(default_factory=list)
    branches: dict[str, "Repo"] = field(default_factory=dict)  # other than main: own files and commits

    def ref(self, rev: str | None) -> "Repo | None":
        """The branch a revision names (main: this object), None when unknown."""
        if rev in (None, "", "main") or any(c["oid"] == rev for c in self.commits):
            return self
        return self.branches.get(rev)

    @property
    def head(self) -> str:
        return self.commits[-1]["oid"]


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    action: int | str  # HTTP status, "drop" or "drop-after"
    times: int
    headers: dict = field(default_factory=dict)


class FakeHub:
    def __init__(self) -> None:
        self.tokens: dict[str, dict] = {}
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.unknown: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # --- test-facing helpers ------------------------------------------------------
    def add_token(self, token: str, role: str = "write", can_write: bool | None = None,
                  name: str = "tester", orgs: dict[str, str] | None = None,
                  scoped: list[tuple[str, str, list[str]]] | None = None) -> None:
        """orgs: {organisation: roleInOrg}; scoped (fineGrained): [(entity type, entity
        name, permissions)], as whoami-v2 reports them."""
        self.tokens[token] = {"name": name, "role": role, "orgs": orgs or {},
                              "scoped": scoped or [],
                              "can_write": role == "write" if can_write is None else can_write}

    def add_repo(self, repo_id: str) -> Repo:
        repo = Repo()
        self._commit(repo, "initial commit", {".gitattributes": GITATTRIBUTES}, set())
        self.repos[repo_id] = repo
        return repo

    def put(self, repo_id: str, files: dict[str, bytes], summary: str = "test commit") -> None:
        """Commit ``files`` to a repo directly (what someone else published); Parquet as LFS."""
        repo = self.repos.get(repo_id) or self.add_repo(repo_id)
        with self.lock:
            self._commit(repo, summary, files, {p for p in files if p.endswith(".parquet")})

    def files(self, repo_id: str, branch: str = "main") -> dict[str, bytes]:
        return dict(self.repos[repo_id].ref(branch).files)

    def commits(self, repo_id: str, branch: str = "main") -> list[dict]:
        return list(self.repos[repo_id].ref(branch).commits)

    def branch_names(self, repo_id: str) -> list[str]:
        return ["main", *sorted(self.repos[repo_id].branches)]

    def fail(self, method: str, pattern: str, action: int | str = 500, times: int = 1,
             headers: dict | None = None) -> None:
        self.faults.append(Fault(method, re.compile(pattern), action, times, headers or {}))

    def count(self, method: str, pattern: str) -> int:
        rx = re.compile(pattern)
        return sum(1 for m, p in self.requests if m == method and rx.search(p))

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeHub":
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # --- internals ------------------------------------------------------------------
    def _commit(self, repo: Repo, summary: str, files: dict[str, bytes], lfs: set[str],
                deleted: tuple[str, ...] = ()) -> str:
        parent = repo.commits[-1]["oid"] if repo.commits else ""
        oid = hashlib.sha1(
            (parent + summary + json.dumps(sorted(files)) + str(len(repo.commits))).encode()
        ).hexdigest()
        for path in deleted:
            repo.files.pop(path, None)
            repo.lfs_paths.discard(path)
        for path, data in files.items():
            repo.files[path] = data
            repo.lfs_paths.discard(path)
        repo.lfs_paths |= lfs
        repo.commits.append({"oid": oid, "summary": summary, "paths": sorted(files), "deleted": sorted(deleted)})
        return oid

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method == method and fault.pattern.search(path):
                    fault.times -= 1
                    return fault
        return None


REPO_API = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+?)(?:/(?P<rest>.*))?$")
LFS_BATCH = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)\.git/info/lfs/objects/batch$")
RESOLVE = re.compile(r"^/datasets/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub: FakeHub

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    # --- plumbing -------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.shutdown(2)  # socket.SHUT_RDWR: the client sees a dropped connection

    def _send(self, status: int, payload=None, headers: dict | None = None,
              content_type: str = "application/json") -> None:
        if getattr(self, "drop_answer", False):  # "drop-after": done, but no answer
            return self._drop()
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, code: str | None = None) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._send(status, {"error": message}, headers)

    def _token(self) -> dict | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        return self.hub.tokens.get(auth[len("Bearer "):])

    def _may_write(self) -> bool:
        """Answer 401/403 and return False unless the caller may write."""
        auth = self.headers.get("Authorization", "")
        token = self._token()
        if token is None:
            if auth:
                self._error(401, "Invalid credentials in Authorization header")
            else:
                self._error(401, "Authorization header is required")
            return False
        if not token["can_write"]:
            self._error(403, "You don't have the rights to write to this repository")
            return False
        return True

    def _dispatch(self, method: str) -> None:
        path = unquote(urlsplit(self.path).path)
        body = self._body()
        hub = self.hub
        with hub.lock:
            hub.requests.append((method, path))
        fault = hub.take_fault(method, path)
        self.drop_answer = fault is not None and fault.action == "drop-after"
        if fault is not None and fault.action == "drop":
            return self._drop()
        if fault is not None and isinstance(fault.action, int):
            self._send(fault.action, {"error": f"injected fault {fault.action}"},
                       {"X-Error-Message": f"injected fault {fault.action}", **fault.headers})
            return
        try:
            self._route(method, path, body)
        except Exception as exc:  # a bug in the stand-in must show up in the test
            self._error(500, f"stand-in error: {type(exc).__name__}: {exc}")
            raise

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    # --- endpoints ------------------------------------------------------------------
    def _route(self, method: str, path: str, body: bytes) -> None:
        hub = self.hub
        if method == "GET" and path == "/api/whoami-v2":
            token = self._token()
            if token is None:
                return self._error(401, "Invalid credentials in Authorization header")
            access = {"displayName": "test", "role": token["role"]}
            if token["role"] == "fineGrained":
                access["fineGrained"] = {
                    "canReadGatedRepos": True, "global": ["discussion.write", "post.write"],
                    "scoped": [{"entity": {"_id": "0" * 24, "type": kind, "name": name},
                                "permissions": perms} for kind, name, perms in token["scoped"]]}
            orgs = [{"type": "org", "name": org, "roleInOrg": role}
                    for org, role in token["orgs"].items()]
            return self._send(200, {"type": "user", "name": token["name"], "orgs": orgs,
                                    "auth": {"type": "access_token", "accessToken": access}})
        if method == "POST" and path == "/api/validate-yaml":
            return self._validate_yaml(json.loads(body))
        if method == "POST" and path == "/api/repos/create":
            return self._create_repo(json.loads(body))
        if method == "PUT" and path.startswith("/lfs-upload/"):
            oid = path.rsplit("/", 1)[1]
            if hashlib.sha256(body).hexdigest() != oid:
                return self._error(400, "uploaded content does not match its sha256")
            with hub.lock:
                hub.lfs[oid] = body
            return self._send(200)
        if method == "POST" and path == "/lfs-verify":
            req = json.loads(body)
            if req["oid"] in hub.lfs and len(hub.lfs[req["oid"]]) == req["size"]:
                return self._send(200, {})
            return self._error(404, "object not found")
        m = RESOLVE.match(path)
        if m and method == "GET":
            return self._resolve(m["repo"], m["rev"], m["path"])
        m = LFS_BATCH.match(path)
        if m and method == "POST":
            return self._lfs_batch(m["repo"], json.loads(body))
        m = REPO_API.match(path)
        if m:
            repo_id, rest = m["repo"], m["rest"] or ""
            repo = hub.repos.get(repo_id)
            if self.headers.get("Authorization") and self._token() is None:
                return self._error(401, "Invalid credentials in Authorization header")
            if repo is None:
                return self._error(404, "Repository not found", "RepoNotFound")
            if method == "GET" and rest == "refs":
                refs = [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": repo.ref(n).head}
                        for n in ["main", *sorted(repo.branches)]]
                return self._send(200, {"branches": refs, "converts": [], "tags": [], "pullRequests": []})
            if rest.startswith("branch/") and method in ("POST", "DELETE"):
                return self._branch(method, repo, rest[len("branch/"):], body)
            # the revision: what follows the endpoint name (a quoted branch name arrives unquoted)
            kind, _, rev = rest.partition("/")
            if kind in ("revision", "paths-info", "preupload", "commit"):
                target = repo.ref(rev)
                if target is None:
                    return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
                repo = target
            if method == "GET" and (rest == "" or kind == "revision"):
                return self._send(200, {"id": repo_id, "sha": repo.head, "private": False,
                                        "siblings": [{"rfilename": p} for p in sorted(repo.files)]})
            if method == "POST" and kind == "paths-info":
                return self._paths_info(repo, parse_qs(body.decode()))
            if method == "POST" and kind == "preupload":
                if not self._may_write():
                    return None
                return self._preupload(repo, json.loads(body))
            if method == "POST" and kind == "commit":
                if not self._may_write():
                    return None
                return self._commit(repo_id, repo, body)
        with hub.lock:
            hub.unknown.append((method, path))
        return self._error(404, f"no such endpoint in the stand-in: {method} {path}")

    def _resolve(self, repo_id: str, rev: str, path: str) -> None:
        """A file's bytes at the head of main or a branch (or at main's commit ids; the
        stand-in keeps no older trees)."""
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            return self._error(404, "Repository not found", "RepoNotFound")
        repo = repo.ref(unquote(rev))
        if repo is None:
            return self._error(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        if path not in repo.files:
            return self._error(404, "Entry not found", "EntryNotFound")
        data = repo.files[path]
        if getattr(self, "drop_answer", False):
            return self._drop()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Repo-Commit", repo.head)
        self.send_header("ETag", f'"{git_sha1(data)}"')
        self.end_headers()
        self.wfile.write(data)

    def _branch(self, method: str, repo: Repo, name: str, body: bytes) -> None:
        if not self._may_write():
            return None
        with self.hub.lock:
            if method == "DELETE":
                if name not in repo.branches:
                    return self._error(404, f"Branch {name} not found", "RevisionNotFound")
                del repo.branches[name]
                return self._send(200)
            if name == "main" or name in repo.branches:
                return self._error(409, f"Branch {name} already exists")
            start = repo.ref((json.loads(body) if body else {}).get("startingPoint"))
            if start is None:
                return self._error(404, "Invalid startingPoint", "RevisionNotFound")
            repo.branches[name] = Repo(files=dict(start.files), lfs_paths=set(start.lfs_paths),
                                       commits=[dict(c) for c in start.commits])
        return self._send(200)

    def _file_info(self, repo: Repo, path: str) -> dict:
        data = repo.files[path]
        info = {"type": "file", "path": path, "size": len(data), "oid": git_sha1(data)}
        if path in repo.lfs_paths:
            info["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                           "pointerSize": 134}
        return info

    def _paths_info(self, repo: Repo, form: dict) -> None:
        out = [self._file_info(repo, p) for p in form.get("paths", []) if p in repo.files]
        self._send(200, out)

    def _preupload(self, repo: Repo, req: dict) -> None:
        files = []
        for f in req["files"]:
            path = f["path"]
            lfs = path.endswith(".parquet") or f["size"] > 10 * 1024 * 1024
            remote = None
            if path in repo.files:
                data = repo.files[path]
                remote = hashlib.sha256(data).hexdigest() if path in repo.lfs_paths else git_sha1(data)
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular",
                          "shouldIgnore": False, "oid": remote})
        self._send(200, {"files": files, "commitOid": repo.head})

    def _lfs_batch(self, repo_id: str, req: dict) -> None:
        if repo_id not in self.hub.repos:
            return self._error(404, "Repository not found", "RepoNotFound")
        if not self._may_write():
            return None
        host = self.headers.get("Host")
        objects = []
        for obj in req["objects"]:
            entry = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.hub.lfs:
                entry["actions"] = {
                    "upload": {"href": f"http://{host}/lfs-upload/{obj['oid']}"},
                    "verify": {"href": f"http://{host}/lfs-verify"},
                }
            objects.append(entry)
        self._send(200, {"transfer": "basic", "objects": objects},
                   content_type="application/vnd.git-lfs+json")

    def _validate_yaml(self, req: dict) -> None:
        content = req.get("content", "")
        errors = []
        m = re.match(r"^---\n(.*?)\n---\n", content, re.S)
        if not m:
            errors.append({"message": "no YAML front matter"})
        else:
            try:
                meta = yaml.safe_load(m.group(1))
                if not isinstance(meta, dict):
                    errors.append({"message": "front matter is not a mapping"})
            except yaml.YAMLError as exc:
                errors.append({"message": f"invalid YAML: {exc}"})
        if errors:
            return self._send(400, {"errors": errors, "warnings": []})
        return self._send(200, {"errors": [], "warnings": []})

    def _create_repo(self, req: dict) -> None:
        if not self._may_write():
            return None
        repo_id = f"{req.get('organization')}/{req['name']}"
        host = self.headers.get("Host")
        url = f"http://{host}/datasets/{repo_id}"
        if repo_id in self.hub.repos:
            return self._send(409, {"error": "You already created this dataset repo", "url": url})
        with self.hub.lock:
            self.hub.add_repo(repo_id)
        return self._send(200, {"url": url, "name": repo_id})

    def _commit(self, repo_id: str, repo: Repo, body: bytes) -> None:
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        files: dict[str, bytes] = {}
        lfs: set[str] = set()
        deleted: list[str] = []
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                data = self.hub.lfs.get(value["oid"])
                if data is None:
                    return self._error(422, f"LFS object {value['oid']} was never uploaded")
                files[value["path"]] = data
                lfs.add(value["path"])
            elif key == "deletedFile":
                if value["path"] not in repo.files:  # as the Hub does: nothing to delete is an error
                    return self._error(404, f"Cannot delete {value['path']}: it does not exist")
                deleted.append(value["path"])
        with self.hub.lock:
            parent = header.get("parentCommit")
            if parent and parent != repo.head:
                return self._error(412, "A commit has happened since the parent commit")
            oid = self.hub._commit(repo, header["summary"], files, lfs, tuple(deleted))
            repo.commits[-1]["description"] = header.get("description", "")
        host = self.headers.get("Host")
        self._send(200, {"commitUrl": f"http://{host}/datasets/{repo_id}/commit/{oid}",
                         "commitOid": oid, "success": True})

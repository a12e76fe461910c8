"""The pipeline's local web page (`just ui`) and its one-file report (`make report`).

  python ui/server.py serve [--port 3000]     # http://127.0.0.1:3000 (UI_PORT), Ctrl-C stops it
  python ui/server.py report [--out FILE]     # <cache>/report.html: the same page, no server

The page shows what `scripts/status.py` works out from the files and step logs (this
module imports it and never decides a state itself): the lineage graph of the DESIGN
flow, one cell per file (partition), details with the step-log history, the resource
table, the upload history and the last runs (scripts/runs.py). Served, it can also run a
job or one file's target through `make` (or the upload script; ui/runner.py, which keeps
the run's output in <cache>/runs/), stream the log with server-sent events and stop the
run with SIGINT, like Ctrl-C.

Safety: bound to 127.0.0.1 only; requests must name this server as Host; a POST needs the
per-process token embedded in the page AND a same-origin Origin / Sec-Fetch-Site header;
only the jobs below and the VCF/Parquet targets that status lists can be run, with no
Make variables from the page except a species that passes the name check; one run at a
time (409 "busy"); a real upload needs `confirm`. Standard library only (http.server).
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import typer

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))

import common  # noqa: E402
import config  # noqa: E402
import runs  # noqa: E402
import stages  # noqa: E402
from runner import Refused, Runner  # noqa: E402 - ui/runner.py, beside this file

SPECIES_RX = re.compile(r"[a-z0-9][a-z0-9_]*")  # config.load's species rule
MAKE = ["make", "-C", str(ROOT), "--no-print-directory"]
UPLOAD = [sys.executable, "-u", str(ROOT / "scripts" / "upload.py")]
# job -> (command, needs confirmation). Nothing else can be run, and nothing from the
# page reaches a command line except a species name and a target status listed.
JOBS: dict[str, tuple[list[str], bool]] = {
    "download": ([*MAKE, "download"], False),
    "parquet": ([*MAKE, "parquet"], False),
    "modules": ([*MAKE, "modules"], False),
    "longevitymap": ([*MAKE, "longevitymap"], False),
    "verify": ([*MAKE, "verify"], False),
    "refresh": ([*MAKE, "refresh"], False),
    "upload --dry-run": ([*UPLOAD, "ensembl", "--dry-run"], False),
    "upload-modules --dry-run": ([*UPLOAD, "modules", "--dry-run"], False),
    "upload": ([*UPLOAD, "ensembl"], True),
    "upload-modules": ([*UPLOAD, "modules"], True),
}
TARGET_STAGES = ("vcf", "parquet")  # one file's VCF or Parquet
MAX_BODY = 64 * 1024


# --- what status says -------------------------------------------------------------------

def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}


def check_species(name: object) -> str:
    if not isinstance(name, str) or not SPECIES_RX.fullmatch(name):
        raise Refused(400, f"species {name!r} is not an Ensembl species name (like homo_sapiens)")
    try:
        return common.check_name(name, "the page")
    except common.Failure as exc:
        raise Refused(400, str(exc)) from None


def cfg_for(species: str) -> dict:
    return config.load({**base_env(), "SPECIES": check_species(species)})


def status_doc(species: str) -> dict:
    """status.py's document for one species (the states are status.py's, not ours)."""
    try:
        return stages.collect(cfg_for(species))
    except (common.Failure, config.ConfigError, OSError) as exc:
        raise Refused(500, f"status: {exc}") from None


def species_list(cfg: dict) -> list[str]:
    """The configured species plus every species directory in the cache."""
    found = {str(cfg["species"])}
    try:
        for p in (Path(cfg["cache_dir"]) / "ensembl").iterdir():
            if p.is_dir() and SPECIES_RX.fullmatch(p.name):
                found.add(p.name)
    except OSError:
        pass
    return sorted(found)


# --- the page -------------------------------------------------------------------------------

def embed_json(obj: object) -> str:
    """JSON safe inside <script type="application/json"> (no "</script>", no "<!--")."""
    return json.dumps(obj).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page(ui: dict, nonce: str, csp: str | None = None) -> str:
    """The one HTML page: CSS and JS inlined, the configuration (and for the report the
    data) embedded as JSON. The same text is served and written as the report."""
    html = (HERE / "static" / "index.html").read_text()
    meta = f'<meta http-equiv="Content-Security-Policy" content="{csp}">' if csp else ""
    parts = {
        "__CSP_META__": meta,
        "__NONCE__": nonce,
        "/*__CSS__*/": (HERE / "static" / "app.css").read_text(),
        "/*__JS__*/": (HERE / "static" / "app.js").read_text(),
        "__CONFIG__": embed_json(ui),
    }
    for key, value in parts.items():
        html = html.replace(key, value)
    return html


def csp_for(nonce: str, served: bool) -> str:
    return ("default-src 'none'; "
            f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src data:; "
            + ("connect-src 'self'; " if served else "")
            + "base-uri 'none'; form-action 'none'"
            + ("; frame-ancestors 'none'" if served else ""))


def write_report(cfg: dict, out: Path) -> Path:
    names = species_list(cfg)
    docs = {}
    for name in names:
        c = config.load({**base_env(), "SPECIES": name})
        with common.exit_on_failure(c["cache_dir"]):
            docs[name] = stages.collect(c)
    ui = {"mode": "report", "species": str(cfg["species"]), "species_list": names, "data": docs,
          "runs": runs.collect(Path(cfg["cache_dir"])),
          "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    nonce = secrets.token_urlsafe(16)
    common.atomic_write(out, page(ui, nonce, csp_for(nonce, served=False)).encode())  # (the umask's mode)
    return out


# --- HTTP -------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    server: "UIServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - quiet unless asked
        if self.server.verbose:
            super().log_message(format, *args)

    # answers
    def send(self, code: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, code: int, obj: object) -> None:
        self.send(code, json.dumps(obj).encode(), "application/json")

    def refuse(self, exc: Refused) -> None:
        self.send_json(exc.code, {"error": str(exc)})

    def fail(self, exc: Exception) -> None:
        """An error of ours: one line on the terminal, a 500 with a sentence to the client."""
        print(f"ui: {self.command} {self.path}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        self.close_connection = True
        try:
            self.send_json(500, {"error": f"the server failed on this request ({type(exc).__name__}: {exc})"})
        except OSError:
            pass

    # checks
    def check_host(self) -> None:
        """Only this server's own name: a DNS-rebound name cannot read the page (token)."""
        if self.headers.get("Host", "") not in self.server.hosts:
            raise Refused(403, "wrong Host: open the page as " + self.server.origin)

    def check_post(self) -> None:
        origin = self.headers.get("Origin")
        site = self.headers.get("Sec-Fetch-Site")
        if origin is not None and origin not in self.server.origins:
            raise Refused(403, f"cross-origin request refused (Origin {origin})")
        if site is not None and site != "same-origin":
            raise Refused(403, f"cross-site request refused (Sec-Fetch-Site {site})")
        if origin is None and site is None:
            raise Refused(403, "request without Origin refused")
        token = self.headers.get("X-UI-Token", "")
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            raise Refused(403, "missing or wrong token: reload the page")

    def body(self) -> dict:
        """The JSON object of the request, at most MAX_BODY bytes. The length must be a
        plain non-negative number: a negative, signed or non-numeric Content-Length, or a
        chunked body, is refused before anything is read (the connection is closed)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise Refused(411, "send the body with a Content-Length (no Transfer-Encoding)")
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isascii() or not length.isdigit():
            self.close_connection = True
            raise Refused(400, f"bad Content-Length {length[:40]!r}: a number of bytes is expected")
        n = int(length)
        if n > MAX_BODY:
            self.close_connection = True
            raise Refused(413, f"request too large: {n} bytes (at most {MAX_BODY})")
        try:
            data = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            raise Refused(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refused(400, "the body is not a JSON object")
        return data

    # routes
    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            self.check_host()
            if url.path == "/":
                nonce = secrets.token_urlsafe(16)
                cfg = self.server.cfg
                ui = {"mode": "server", "token": self.server.token, "species": query.get("species") or
                      str(cfg["species"]), "species_list": species_list(cfg), "jobs": list(JOBS),
                      "confirm": [j for j, (_, c) in JOBS.items() if c], "origin": self.server.origin}
                check_species(ui["species"])
                self.send(200, page(ui, nonce).encode(), "text/html; charset=utf-8",
                          {"Content-Security-Policy": csp_for(nonce, served=True)})
            elif url.path == "/api/status":
                doc = status_doc(query.get("species") or str(self.server.cfg["species"]))
                doc["ui_run"] = self.server.runner.summary()
                self.send_json(200, doc)
            elif url.path == "/api/run":
                self.send_json(200, {"run": self.server.runner.summary()})
            elif url.path == "/api/runs":
                self.send_json(200, {"runs": runs.collect(Path(self.server.cfg["cache_dir"]))})
            elif m := re.fullmatch(r"/runs/([^/]+)/log", url.path):
                try:
                    text = runs.run_log(Path(self.server.cfg["cache_dir"]), m.group(1))
                except common.Failure as exc:
                    raise Refused(404, str(exc)) from None
                self.send(200, text.encode(), "text/plain; charset=utf-8")
            elif url.path == "/api/events" and self.command == "GET":
                self.events()
            elif url.path == "/favicon.ico":
                self.send(204, b"", "image/x-icon")
            else:
                raise Refused(404, f"no such page: {url.path}")
        except Refused as exc:
            self.refuse(exc)
        except Exception as exc:  # noqa: BLE001 - a sentence to the client, not a dropped connection
            self.fail(exc)

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        try:
            self.check_host()
            self.check_post()
            data = self.body()
            if url.path == "/api/run":
                self.send_json(202, {"run": self.start_run(data)})
            elif url.path == "/api/stop":
                self.send_json(200, {"stopped": self.server.runner.stop()})
            else:
                raise Refused(404, f"no such action: {url.path}")
        except Refused as exc:
            self.refuse(exc)
        except Exception as exc:  # noqa: BLE001
            self.fail(exc)

    def start_run(self, data: dict) -> dict:
        species = check_species(data.get("species") or str(self.server.cfg["species"]))
        cfg = cfg_for(species)
        env = {**base_env(), "SPECIES": species, "CACHE_DIR": str(cfg["cache_dir"])}
        job, target = data.get("job"), data.get("target")
        if (job is None) == (target is None):
            raise Refused(400, "give either a job or a target")
        if job is not None:
            if not isinstance(job, str) or job not in JOBS:
                raise Refused(400, f"unknown job {json.dumps(job)[:80]}: the job is one of the names "
                                   f"{', '.join(JOBS)}")
            argv, needs_confirm = JOBS[job]
            if needs_confirm and data.get("confirm") is not True:
                raise Refused(400, f"{job} publishes on the Hugging Face Hub: confirm it on the page")
            return self.server.runner.start(job, list(argv), env)
        allowed = {r["target"]: r for r in status_doc(species)["rows"]
                   if r["stage"] in TARGET_STAGES and r.get("target")}
        if not isinstance(target, str) or target not in allowed:
            raise Refused(403, f"target {target!r} is not one of the VCF/Parquet targets status lists "
                               f"for {species}")
        return self.server.runner.start(f"make {allowed[target]['id']}", [*MAKE, target], env)

    def events(self) -> None:
        """Server-sent events: the current (or last) run's start, log lines and end."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Accel-Buffering", "no")
        self.end_headers()
        self.close_connection = True
        runner = self.server.runner
        sent_id, sent_n, sent_end = None, 0, False

        def fresh() -> bool:
            r = runner.run
            return runner.closing or (r is not None and (r["id"] != sent_id or len(r["lines"]) > sent_n
                                                         or (r["done"] and not sent_end)))
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while True:
                with runner.cv:
                    runner.cv.wait_for(fresh, timeout=15)
                    if runner.closing:
                        return
                    r = runner.run
                    out = []
                    if r is not None:
                        if r["id"] != sent_id:
                            sent_id, sent_n, sent_end = r["id"], 0, False
                            out.append(("run", {k: v for k, v in r.items() if k != "lines"}))
                        out += [("log", line) for line in r["lines"][sent_n:]]
                        sent_n = len(r["lines"])
                        if r["done"] and not sent_end:
                            sent_end = True
                            out.append(("end", {k: v for k, v in r.items() if k != "lines"}))
                chunk = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in out)
                self.wfile.write((chunk or ": keep-alive\n\n").encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return


class UIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, cfg: dict, verbose: bool = False):
        super().__init__(("127.0.0.1", port), Handler)
        self.cfg = cfg
        self.verbose = verbose
        self.token = secrets.token_urlsafe(32)
        self.runner = Runner()
        port = self.server_address[1]
        self.origin = f"http://127.0.0.1:{port}"
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{h}" for h in self.hosts}


# --- command line -------------------------------------------------------------------------

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@app.command()
def serve(
    port: int = typer.Option(int(os.environ.get("UI_PORT") or 3000), help="Port on 127.0.0.1 (env UI_PORT)."),
    verbose: bool = typer.Option(False, help="Log every request."),
) -> None:
    """Serve the page on http://127.0.0.1:PORT until Ctrl-C."""
    cfg = common.load_config()
    try:
        server = UIServer(port, cfg, verbose)
    except OSError as exc:
        common.die(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc} (another `just ui`? try UI_PORT=...)")
    print(f"prepare-annotations UI: {server.origin}/  (cache {cfg['cache_dir']}, species {cfg['species']}; "
          "Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.runner.close()
        server.server_close()
        print("prepare-annotations UI: stopped", flush=True)


@app.command()
def report(out: Path = typer.Option(None, "--out", help="Where to write (default <cache>/report.html; "
                                                       "Make: REPORT=path).")) -> None:
    """Write the page once as one self-contained HTML file (no server, no external URLs)."""
    cfg = common.load_config()
    path = out or Path(cfg["cache_dir"]) / "report.html"
    with common.exit_on_failure(path):
        write_report(cfg, path.absolute())
    print(f"report written: {path.absolute()}")


if __name__ == "__main__":
    app()

"""Fetch with resume: stream a URL to `<name>.part`, verify, rename into place.

  python scripts/fetch.py vcf homo_sapiens-chr21.vcf.gz   # a file listed in vcf_urls.json
  python scripts/fetch.py url URL OUT                     # any URL to a path

An interrupted transfer resumes with `Range: bytes=N-`, guarded by `If-Range` (the
ETag or Last-Modified seen when the transfer began), and is accepted only when the
server answers 206 with a Content-Range starting at N; a 200 restarts from zero.
Connection errors, timeouts, 408, 429 (honouring Retry-After) and 5xx are retried with
exponential backoff and jitter; 403/404/410 and other client errors fail at once. The
finished size must equal the advertised length, and a VCF must match CHECKSUMS (a
mismatch is downloaded again, a bounded number of times).
"""

from __future__ import annotations

import email.utils
import fcntl
import json
import os
import random
import re
import time
from pathlib import Path

import requests
import typer
import urllib3

import common
import sumcheck

CHUNK = 1 << 20
CHECKSUM_ATTEMPTS = 3  # downloads of one file whose checksum mismatches before giving up
MAX_DELAY = 300.0
USER_AGENT = "prepare-annotations/0.1 (+https://github.com/dna-seq)"


class Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def backoff(attempt: int, cfg: dict, retry_after: float | None) -> float:
    """Delay before retry number ``attempt`` (1-based): Retry-After when the server
    gave one, else exponential with full jitter."""
    if retry_after is not None:
        return min(retry_after, MAX_DELAY)
    base = float(cfg.get("retry_backoff", 1.0))
    return random.uniform(base / 2, min(MAX_DELAY, base * 2 ** (attempt - 1)))


def _session() -> requests.Session:
    session = requests.Session()
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    return session


def _timeouts(cfg: dict) -> tuple[float, float]:
    return float(cfg["connect_timeout"]), float(cfg["read_timeout"])


def _check_status(resp: requests.Response, url: str) -> None:
    status = resp.status_code
    if status in (408, 429) or status >= 500:
        raise Retryable(f"HTTP {status} {resp.reason}", retry_after_seconds(resp.headers.get("Retry-After")))
    if status >= 400:
        raise common.Failure(f"{url}: HTTP {status} {resp.reason}")


def _get(session: requests.Session, url: str, cfg: dict, headers: dict | None = None) -> requests.Response:
    try:
        resp = session.get(url, headers=headers or {}, stream=True, timeout=_timeouts(cfg))
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema) as exc:
        raise common.Failure(f"{url}: not an http(s) URL ({type(exc).__name__})") from None
    except requests.exceptions.SSLError as exc:  # retrying will not fix a certificate
        raise common.Failure(f"{url}: TLS error: {exc}") from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise Retryable(f"cannot connect ({type(exc).__name__})") from None
    return resp


def with_retries(what: str, cfg: dict, action, progress=None):
    """Call ``action()`` until it returns, retrying on Retryable up to ``retries`` times.
    With ``progress`` (a callable giving e.g. bytes received so far), an attempt that
    moved it forward resets the count: a long transfer on a flaky link still finishes."""
    retries = int(cfg["retries"])
    attempt = 0
    mark = progress() if progress else None
    while True:
        try:
            return action()
        except Retryable as exc:
            if progress and (now := progress()) > mark:
                mark, attempt = now, 0
            attempt += 1
            if attempt > retries:
                raise common.Failure(f"{what}: {exc}; giving up after {retries} retries") from None
            delay = backoff(attempt, cfg, exc.retry_after)
            common.say(f"{what}: {exc}; retry {attempt}/{retries} in {delay:.1f} s")
            time.sleep(delay)


def get_text(url: str, cfg: dict, missing_ok: bool = False) -> str | None:
    """A small document (listing, CHECKSUMS) with retries; None on 404 when ``missing_ok``."""
    session = _session()

    def once() -> str | None:
        resp = _get(session, url, cfg)
        with resp:
            if missing_ok and resp.status_code == 404:
                return None
            _check_status(resp, url)
            try:
                return resp.content.decode("utf-8", errors="replace")
            except (requests.ConnectionError, requests.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                raise Retryable(f"connection lost ({type(exc).__name__})") from None

    return with_retries(url, cfg, once)


# --- the resumable transfer ------------------------------------------------------------

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def _validator(resp: requests.Response) -> str | None:
    etag = resp.headers.get("ETag")
    if etag and not etag.startswith("W/"):  # If-Range needs a strong validator
        return etag
    return resp.headers.get("Last-Modified")


class Transfer:
    """One file's download state: ``<dest>.part`` plus ``<dest>.part.json`` holding the
    URL, the validator and the advertised length of the transfer it belongs to."""

    def __init__(self, url: str, dest: Path, cfg: dict, session: requests.Session):
        self.url, self.dest, self.cfg, self.session = url, dest, cfg, session
        self.part = dest.with_name(dest.name + ".part")
        self.meta = dest.with_name(dest.name + ".part.json")

    def _load_meta(self) -> dict:
        try:
            meta = json.loads(self.meta.read_text())
        except (OSError, ValueError):
            return {}
        return meta if meta.get("url") == self.url else {}

    def received(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0

    def discard(self) -> None:
        self.part.unlink(missing_ok=True)
        self.meta.unlink(missing_ok=True)

    def attempt(self) -> int:
        """Bring ``.part`` to the full file; return its size. Raises Retryable/Failure."""
        meta = self._load_meta()
        offset = self.part.stat().st_size if self.part.exists() else 0
        if offset and not meta.get("validator"):
            offset = 0  # cannot prove the partial file is the same version: start over
        headers = {}
        if offset:
            headers = {"Range": f"bytes={offset}-", "If-Range": meta["validator"]}
        resp = _get(self.session, self.url, self.cfg, headers)
        with resp:
            total: int | None
            if resp.status_code == 206:
                match = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != offset:
                    self.discard()
                    raise Retryable(f"Content-Range {resp.headers.get('Content-Range')!r} does not "
                                    f"start at byte {offset}; restarting from zero")
                total = None if match.group(3) == "*" else int(match.group(3))
                seen = _validator(resp)
                if (seen and seen != meta.get("validator")) or (meta.get("total") not in (None, total)):
                    self.discard()  # the server ignored If-Range: never splice two versions
                    raise Retryable("the server resumed a different version of the file; restarting from zero")
            elif resp.status_code == 416 and offset:
                match = re.match(r"bytes\s+\*/(\d+)", resp.headers.get("Content-Range", ""))
                if match and int(match.group(1)) == offset:
                    return offset  # the partial file is already complete
                self.discard()
                raise Retryable("range not satisfiable; restarting from zero")
            else:
                _check_status(resp, self.url)
                if offset:
                    common.say(f"{self.url}: server answered {resp.status_code} to a ranged "
                               f"request (file changed or Range unsupported); restarting from zero")
                offset = 0
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
            validator = _validator(resp) if resp.status_code == 200 else meta.get("validator")
            common.atomic_write(self.meta, json.dumps(
                {"url": self.url, "validator": validator, "total": total}).encode())
            self._stream(resp, offset, total)
        size = self.part.stat().st_size
        if total is not None and size != total:
            if size > total:
                self.discard()
            raise Retryable(f"incomplete transfer: {size} of {total} bytes")
        return size

    def _stream(self, resp: requests.Response, offset: int, total: int | None) -> None:
        progress = common.Progress(self.dest.name, total=total, initial=offset)
        try:
            with open(self.part, "ab" if offset else "wb") as out:
                while True:
                    try:
                        # read1: whatever has arrived, so a stall loses nothing already received
                        chunk = resp.raw.read1(CHUNK, decode_content=False)
                        if not chunk:
                            break
                    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
                        raise Retryable(f"connection lost at byte {progress.done:,} "
                                        f"({type(exc).__name__})") from None
                    out.write(chunk)
                    progress.update(len(chunk))
        finally:
            progress.close()


def fetch_url(url: str, dest: Path, cfg: dict, expected: sumcheck.Sum | None = None) -> dict:
    """Download ``url`` to ``dest`` (resuming a previous ``.part``), check the size and,
    when given, the BSD checksum; rename into place. Returns facts for the step log."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    transfer = Transfer(url, dest, cfg, _session())
    resumed_from = transfer.part.stat().st_size if transfer.part.exists() else 0
    for attempt in range(1, CHECKSUM_ATTEMPTS + 1):
        size = with_retries(url, cfg, transfer.attempt, progress=transfer.received)
        problem = sumcheck.mismatch(transfer.part, expected) if expected else None
        if problem is None:
            with open(transfer.part, "rb+") as fh:
                os.fsync(fh.fileno())  # a power cut must not leave a short file under the final name
            os.replace(transfer.part, dest)
            transfer.meta.unlink(missing_ok=True)
            return {"bytes": size, "resumed_from": resumed_from, "checksum": str(expected) if expected else None}
        transfer.discard()
        if attempt == CHECKSUM_ATTEMPTS:
            raise common.Failure(f"{problem.replace(str(transfer.part), dest.name)} "
                                 f"after {CHECKSUM_ATTEMPTS} downloads of {url}")
        common.say(f"{problem.replace(str(transfer.part), dest.name)}; downloading again")
    raise AssertionError("unreachable")


def remote_size(url: str, cfg: dict) -> int | None:
    session = _session()

    def once() -> int | None:
        try:
            resp = session.head(url, timeout=_timeouts(cfg), allow_redirects=True)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Retryable(f"cannot connect ({type(exc).__name__})") from None
        _check_status(resp, url)
        length = resp.headers.get("Content-Length")
        return int(length) if length and length.isdigit() else None

    return with_retries(url, cfg, once)


# --- command line -------------------------------------------------------------------------

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


@app.command()
def vcf(name: str = typer.Argument(..., help="File name as listed in vcf_urls.json")) -> None:
    """Download one VCF of the species into <cache>/ensembl/<species>/vcf/."""
    cfg = common.load_config()
    with common.exit_on_failure(name):
        common.check_name(name)
        listing = common.urls_json(cfg)
        try:
            urls = json.loads(listing.read_text())
        except (OSError, ValueError) as exc:
            raise common.Failure(f"{listing}: cannot read the URL list ({exc}); run `make refresh`")
        url = next((u for u in urls if u.rsplit("/", 1)[-1] == name), None)
        if url is None:
            raise common.Failure(f"{name} is not in {listing}; run `make refresh`")
        dest = common.vcf_dir(cfg) / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        stamp = common.species_dir(cfg) / "expected" / name
        if _wait_for_other_fetch(dest, cfg) and dest.exists() and not cfg["force_download"] and \
                (not stamp.exists() or dest.stat().st_mtime >= stamp.stat().st_mtime):
            common.say(f"{name}: completed by another process")
            return
        table = sumcheck.load_checksums(common.checksums_path(cfg)) if cfg["verify_checksums"] else None
        expected = table.get(name) if table else None
        if table is not None and expected is None:
            common.say(f"warning: {name} is not listed in CHECKSUMS; checking its size only")
        with common.step(common.step_log_path(cfg), "fetch", dest) as rec:
            if dest.exists() and not cfg["force_download"]:
                if _still_valid(dest, url, cfg, expected):
                    dest.touch()
                    rec.update(bytes=dest.stat().st_size, outcome_detail="already complete",
                               checksum=str(expected) if expected else None)
                    common.say(f"{name}: already complete")
                    return
                common.say(f"{name}: no longer matches CHECKSUMS; removed, downloading again")
                dest.unlink()
            t0 = time.perf_counter()
            facts = fetch_url(url, dest, cfg, expected)
            rec.update(facts)
            secs = time.perf_counter() - t0
            common.say(f"{name}: {common.human_bytes(facts['bytes'])} in {secs:.1f} s"
                       + (f", checksum {expected} OK" if expected else ", size OK"))


_locks: list = []


def _wait_for_other_fetch(dest: Path, cfg: dict) -> bool:
    """Hold an exclusive lock on ``<cache_dir>/tmp/locks/<name>.lock`` for the rest of this process, so two
    makes at once (`make -j download parquet`, two terminals) never write the same
    ``.part``. Returns True when another process held it and we had to wait."""
    locks = Path(cfg["cache_dir"]) / "tmp" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    lock = open(locks / f"{dest.name}.lock", "w")
    _locks.append(lock)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        common.say(f"{dest.name}: another process is downloading it; waiting")
        fcntl.flock(lock, fcntl.LOCK_EX)
        return True


def _still_valid(dest: Path, url: str, cfg: dict, expected: sumcheck.Sum | None) -> bool:
    """An existing file re-checked after the listing changed (Make found it out of date)."""
    if expected is not None:
        return sumcheck.mismatch(dest, expected) is None
    return remote_size(url, cfg) == dest.stat().st_size


@app.command()
def url(url: str, out: Path) -> None:
    """Download any URL to OUT (resumable; size checked)."""
    cfg = common.load_config()
    with common.exit_on_failure(out):
        facts = fetch_url(url, out, cfg)
    common.say(f"{out}: {common.human_bytes(facts['bytes'])}")


if __name__ == "__main__":
    app()

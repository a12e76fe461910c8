"""The page's server (ui/server.py) answering malformed requests, without a browser: a
real server process on 127.0.0.1, real sockets. Every bad request gets an answer with a
sentence (never a dropped connection or a traceback), and the 64 KiB body limit holds
whatever the Content-Length says."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """`ui/server.py serve` on an empty cache; yields (port, token, process)."""
    cache = tmp_path_factory.mktemp("cache")
    port = free_port()
    env = {"PATH": "/usr/bin:/bin", "CACHE_DIR": str(cache), "PA_DOTENV": "",
           "BASE_URL": "http://127.0.0.1:9/", "HOME": str(cache)}
    proc = subprocess.Popen([PY, str(ROOT / "ui" / "server.py"), "serve", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.stdout.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                html = resp.read().decode()
            break
        except OSError:
            assert time.monotonic() < deadline, "the server did not answer"
            time.sleep(0.2)
    token = json.loads(re.search(r'id="ui-config">(.*?)</script>', html, re.S).group(1))["token"]
    yield port, token, proc
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    assert "Traceback" not in out, out  # no request made the server print a traceback


def raw(port: int, head: str, body: bytes = b"", keep_open: bool = True, timeout: float = 5.0) -> tuple[int, dict]:
    """Send ``head`` (request line and headers, without the blank line) and ``body`` on a
    socket that stays open (a client that sends more than it says), and read one answer.
    A server that waits for the end of the stream times out here."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
        if not keep_open:
            sock.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < content_length(data):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            raise AssertionError(f"no answer within {timeout} s to {head.splitlines()[0]!r} "
                                 f"({head.splitlines()[-1]!r})") from None
    assert data, f"the connection was closed without an answer to {head!r}"
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1] or b"{}")


def content_length(data: bytes) -> int:
    m = re.search(rb"(?i)content-length:\s*(\d+)", data.split(b"\r\n\r\n", 1)[0])
    return int(m.group(1)) if m else 0


def post_head(port: int, token: str, length: str, path: str = "/api/run") -> str:
    return (f"POST {path} HTTP/1.1\nHost: 127.0.0.1:{port}\nOrigin: http://127.0.0.1:{port}\n"
            f"X-UI-Token: {token}\nContent-Type: application/json\nContent-Length: {length}")


@pytest.mark.parametrize("job", [["verify"], {}, 1, True])
def test_a_job_that_is_not_a_name_gets_400_with_a_sentence(ui, job):
    port, token, _ = ui
    body = json.dumps({"job": job}).encode()
    status, answer = raw(port, post_head(port, token, str(len(body))), body)
    assert status == 400, answer
    assert answer["error"].startswith("unknown job") and "verify" in answer["error"], answer


@pytest.mark.parametrize("length", ["-1", "-65536", "abc", "1e3", "+5", "0x10", "", "١٢"])
def test_a_content_length_that_is_not_a_plain_number_is_refused_before_reading(ui, length):
    """A negative length used to make the server read to the end of the stream (memory
    grew with every byte sent); the client keeps its side open and sends 256 KiB."""
    port, token, _ = ui
    head = post_head(port, token, length)
    if length == "":
        head = head.replace("Content-Length: ", "Content-Length:")
    status, answer = raw(port, head, b"x" * (256 * 1024))
    assert status == 400 and "Content-Length" in answer["error"], answer


@pytest.mark.parametrize("length", [str(64 * 1024 + 1), str(10 ** 30)])
def test_a_body_over_64_kib_is_refused_unread(ui, length):
    port, token, _ = ui
    status, answer = raw(port, post_head(port, token, length), b"{" + b" " * 1000)
    assert status == 413 and "too large" in answer["error"], answer


def test_a_chunked_body_is_refused(ui):
    port, token, _ = ui
    head = post_head(port, token, "5").replace("Content-Length: 5", "Transfer-Encoding: chunked")
    status, answer = raw(port, head, b"5\r\n{}   \r\n0\r\n\r\n")
    assert status == 411 and "Content-Length" in answer["error"], answer


def test_the_server_still_answers_after_the_bad_requests(ui):
    port, token, proc = ui
    body = json.dumps({"job": "no-such-job"}).encode()
    status, answer = raw(port, post_head(port, token, str(len(body))), body, keep_open=False)
    assert status == 400 and "unknown job" in answer["error"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/run", timeout=5) as resp:
        assert json.loads(resp.read()) == {"run": None}  # nothing was started by any of them
    assert proc.poll() is None

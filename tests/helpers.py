"""Test helpers: real `make` runs against a real HTTP mirror on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def make(*args: str, cache: Path, server=None, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """Run ``make -C ROOT args`` with CACHE_DIR (and BASE_URL for ``server``) set on the
    command line; extra environment variables from ``env``. Records the wall time on
    the result as ``.seconds``."""
    cmd = ["make", "-C", str(ROOT), "--no-print-directory", *args, f"CACHE_DIR={cache}"]
    if server is not None:
        cmd.append(f"BASE_URL={server.url}/")
    full_env = dict(os.environ)  # conftest removed the caller's configuration variables
    full_env.update({"RETRY_BACKOFF": "0.01", "CONNECT_TIMEOUT": "5", "READ_TIMEOUT": "5"})
    full_env.update(env)
    t0 = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)
    result.seconds = time.perf_counter() - t0
    return result


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr

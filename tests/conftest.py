"""Shared test set-up: the scripts directory is importable as plain modules, and the
environment carries no configuration from the caller (`make test` exports the
resolved configuration; a test must not inherit it, nor read the project's .env, nor
touch the user's cache)."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))

import config  # noqa: E402

for _key in config.DEFAULTS:
    for _name in config.ALIASES.get(_key, (_key.upper(),)):
        os.environ.pop(_name, None)
for _name in ("PA_CONFIG", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "HF_TOKEN", *config.FALLBACKS.values()):
    os.environ.pop(_name, None)
# A developer's own .env at the project root is not read by the tests (PA_DOTENV empty:
# no .env); the .env tests name theirs.
os.environ["PA_DOTENV"] = ""
# Anything that forgets to name a cache writes here, never into ~/.cache.
os.environ["JUST_DNA_PIPELINES_CACHE_DIR"] = tempfile.mkdtemp(prefix="pa-test-cache-")

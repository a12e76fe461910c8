"""Shared test set-up: scripts/ and scripts/dev/ are importable as plain modules, and the
environment carries no configuration from the caller (`make test` exports the
resolved configuration; a test must not inherit it, nor read the project's .env, nor
touch the user's cache)."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
for _dir in (SCRIPTS / "dev", SCRIPTS):  # the pipeline's steps, then the dev tools (mirror, fixtures)
    if str(_dir) not in sys.path:
        sys.path.insert(0, str(_dir))

import config  # noqa: E402

for _key in config.DEFAULTS:
    for _name in config.ALIASES.get(_key, (_key.upper(),)):
        os.environ.pop(_name, None)
for _name in ("PA_CONFIG", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "HF_TOKEN", "PA_RUN_ID", "PA_RUN_LABEL",
              *config.FALLBACKS.values()):
    os.environ.pop(_name, None)
# A developer's own .env at the project root is not read by the tests (PA_DOTENV empty:
# no .env); the .env tests name theirs.
os.environ["PA_DOTENV"] = ""
# Anything that forgets to name a cache writes here, never into ~/.cache.
os.environ["JUST_DNA_PIPELINES_CACHE_DIR"] = tempfile.mkdtemp(prefix="pa-test-cache-")


# --- the mini Ensembl mirror, shared by the test modules ------------------------------------

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def mirror_site(tmp_path_factory) -> Path:
    """The mini mirror (scripts/dev/mirror.py), built once per test session: it is
    deterministic. Read-only: a test that changes files on the server copies it first."""
    import mirror

    return mirror.build(tmp_path_factory.mktemp("mirror"))


@pytest.fixture
def server(mirror_site):
    """The mini mirror served on 127.0.0.1 for one test (a module may override this)."""
    import mirror

    with mirror.MirrorServer(mirror_site) as srv:
        yield srv

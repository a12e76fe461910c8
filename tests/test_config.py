"""Configuration precedence: built-in default < config.toml < environment / Make variable."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

import config
import mirror
from helpers import ROOT, make, output
from hubstub import FakeHub


def write(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return {"PA_CONFIG": str(path), "HOME": str(tmp_path)}


def test_file_overrides_defaults_and_env_overrides_file(tmp_path):
    env = write(tmp_path, 'species = "mus_musculus"\nretries = 3\nread_timeout = 5\nverify_checksums = false\n')
    cfg = config.load(env)
    assert (cfg["species"], cfg["retries"], cfg["read_timeout"], cfg["verify_checksums"]) == ("mus_musculus", 3, 5.0, False)
    assert cfg["connect_timeout"] == config.DEFAULTS["connect_timeout"]
    cfg = config.load({**env, "SPECIES": "danio_rerio", "RETRIES": "7", "VERIFY_CHECKSUMS": "yes", "FORCE": "1"})
    assert (cfg["species"], cfg["retries"], cfg["verify_checksums"], cfg["force_download"]) == ("danio_rerio", 7, True, True)


def test_cache_dir_default_chain(tmp_path):
    env = write(tmp_path, "")
    assert config.load(env)["cache_dir"] == str(tmp_path / ".cache" / "just-dna-pipelines")
    assert config.load({**env, "JUST_DNA_PIPELINES_CACHE_DIR": "/data/jd"})["cache_dir"] == "/data/jd"
    assert config.load({**env, "JUST_DNA_PIPELINES_CACHE_DIR": "/data/jd", "CACHE_DIR": "/x"})["cache_dir"] == "/x"


def test_bad_values_are_reported(tmp_path):
    env = write(tmp_path, "")
    with pytest.raises(config.ConfigError, match="RETRIES|retries"):
        config.load({**env, "RETRIES": "many"})
    with pytest.raises(config.ConfigError, match="species"):
        config.load({**env, "SPECIES": "../etc"})
    with pytest.raises(config.ConfigError, match="not found"):
        config.load({"PA_CONFIG": str(tmp_path / "missing.toml")})


def test_make_reads_config_file_and_variables(tmp_path):
    env = write(tmp_path, 'species = "mus_musculus"\nmax_concurrent_downloads = 3\n')
    result = make("help", cache=tmp_path / "c", **env)
    assert result.returncode == 0, output(result)
    assert "SPECIES=mus_musculus" in result.stdout and "MAX_CONCURRENT_DOWNLOADS=3" in result.stdout
    result = make("help", "SPECIES=danio_rerio", cache=tmp_path / "c", **env)
    assert "SPECIES=danio_rerio" in result.stdout


# --- the Dagster tool's variables and the project's .env --------------------------------------

OLD_CONV, OLD_DL = "PREPARE_ANNOTATIONS_PARQUET_WORKERS", "PREPARE_ANNOTATIONS_DOWNLOAD_WORKERS"


def test_old_worker_variables_are_fallbacks_below_ours_and_the_file(tmp_path):
    env = write(tmp_path, "")
    cfg = config.load(env)
    assert (cfg["max_concurrent_conversions"], cfg["max_concurrent_downloads"]) == (2, 4)  # built-in
    cfg = config.load({**env, OLD_CONV: "3", OLD_DL: "6"})
    assert (cfg["max_concurrent_conversions"], cfg["max_concurrent_downloads"]) == (3, 6)
    cfg = config.load({**env, OLD_CONV: "3", OLD_DL: "6", "MAX_CONCURRENT_CONVERSIONS": "5"})
    assert (cfg["max_concurrent_conversions"], cfg["max_concurrent_downloads"]) == (5, 6)
    env = write(tmp_path, "max_concurrent_conversions = 1\n")  # the config sets it: the config wins
    cfg = config.load({**env, OLD_CONV: "3", OLD_DL: "6"})
    assert (cfg["max_concurrent_conversions"], cfg["max_concurrent_downloads"]) == (1, 6)
    with pytest.raises(config.ConfigError, match=OLD_CONV):
        config.load({**write(tmp_path, ""), OLD_CONV: "many"})


def test_shipped_config_leaves_the_worker_counts_to_the_old_variables(monkeypatch):
    """config.toml documents the defaults without setting them, so a Dagster user's
    PREPARE_ANNOTATIONS_*_WORKERS still applies with the project's own config file."""
    shipped = config.load({"HOME": "/nonexistent"})
    assert (shipped["max_concurrent_conversions"], shipped["max_concurrent_downloads"]) == (2, 4)
    assert config.load({"HOME": "/nonexistent", OLD_CONV: "7"})["max_concurrent_conversions"] == 7


def test_dotenv_is_read_below_the_environment(tmp_path, monkeypatch):
    dotenv = tmp_path / "my.env"
    dotenv.write_text("# from the Dagster tool\nexport JUST_DNA_PIPELINES_CACHE_DIR=/data/jd\n"
                      f"{OLD_CONV}=3\nSPECIES = 'mus_musculus'\nRETRIES=\"4\"  \nHF_TOKEN=hf_secret # write\n\n")
    monkeypatch.setenv("PA_DOTENV", str(dotenv))
    monkeypatch.setenv("PA_CONFIG", write(tmp_path, "")["PA_CONFIG"])
    for name in ("JUST_DNA_PIPELINES_CACHE_DIR", "SPECIES", "RETRIES", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert config.read_dotenv(dotenv)["HF_TOKEN"] == "hf_secret"
    cfg = config.load()
    assert (cfg["cache_dir"], cfg["species"], cfg["retries"], cfg["max_concurrent_conversions"]) == (
        "/data/jd", "mus_musculus", 4, 3)
    monkeypatch.setenv("SPECIES", "danio_rerio")  # the environment wins
    assert config.load()["species"] == "danio_rerio"
    dotenv.write_text("A=1\nthis line is not an assignment hf_secret\n")
    with pytest.raises(config.ConfigError) as err:
        config.load()
    assert "line 2 is not NAME=value" in str(err.value) and "hf_secret" not in str(err.value)


def project_copy(tmp_path: Path) -> Path:
    """The project's Makefile, justfile, config and scripts in a directory of their own
    (sharing the environment), so that a .env can sit at *its* root."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("Makefile", "justfile", "config.toml", "pyproject.toml", "uv.lock"):
        shutil.copy2(ROOT / name, root / name)
    for name in ("scripts", "sql"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in (".venv", ".tools"):
        if (ROOT / name).exists():
            (root / name).symlink_to(ROOT / name)
    return root


def run_in(root: Path, cmd: list[str], **env: str) -> subprocess.CompletedProcess:
    # PA_DOTENV unset: the default, <root>/.env; conftest's stand-in cache variable removed.
    full = {k: v for k, v in os.environ.items() if k not in ("PA_DOTENV", "JUST_DNA_PIPELINES_CACHE_DIR")}
    full.update(env)
    return subprocess.run(cmd, cwd=root, env=full, capture_output=True, text=True, timeout=300)


def test_make_reads_the_project_dotenv_and_the_environment_wins(tmp_path):
    root = project_copy(tmp_path)
    cache = tmp_path / "from-dotenv"
    (root / ".env").write_text(f"JUST_DNA_PIPELINES_CACHE_DIR={cache}\n{OLD_CONV}=3\n{OLD_DL}=5\n"
                               "HF_TOKEN=hf_dotenv_secret_token\n")
    shown = run_in(root, ["make", "--no-print-directory", "help"])
    assert shown.returncode == 0, output(shown)
    assert f"CACHE_DIR={cache}" in shown.stdout
    assert "MAX_CONCURRENT_DOWNLOADS=5" in shown.stdout and "MAX_CONCURRENT_CONVERSIONS=3" in shown.stdout
    assert "hf_dotenv_secret_token" not in output(shown)
    env_wins = run_in(root, ["make", "--no-print-directory", "help"], MAX_CONCURRENT_CONVERSIONS="6",
                      JUST_DNA_PIPELINES_CACHE_DIR=str(tmp_path / "from-env"))
    assert "MAX_CONCURRENT_CONVERSIONS=6" in env_wins.stdout and f"CACHE_DIR={tmp_path / 'from-env'}" in env_wins.stdout

    # A real run: the cache directory named only in .env receives the download.
    site = mirror.build(tmp_path / "mirror")
    with mirror.MirrorServer(site) as server:
        result = run_in(root, ["make", "--no-print-directory", "download", "SPECIES=mus_musculus",
                               f"BASE_URL={server.url}/"], RETRY_BACKOFF="0.01")
    assert result.returncode == 0, output(result)
    assert (cache / "ensembl" / "mus_musculus" / "vcf" / "mus_musculus.vcf.gz").is_file()
    assert "hf_dotenv_secret_token" not in output(result)


def test_a_dotenv_base_url_reaches_the_scripts_that_make_runs(tmp_path):
    """Make exports BASE_URL (empty when only .env sets it); the scripts it runs must still
    take .env's value, not the default (an empty variable is no setting)."""
    env_file = tmp_path / "settings.env"
    env_file.write_text(f"CACHE_DIR={tmp_path / 'cache'}\nBASE_URL=http://127.0.0.1:9/pinned/\n")
    shown = make("status", "STATUS_ARGS=--json", cache=tmp_path / "cache", PA_DOTENV=str(env_file))
    assert shown.returncode == 0, output(shown)
    assert json.loads(shown.stdout)["discovery"]["config_base_url"] == "http://127.0.0.1:9/pinned/"


def test_just_upload_takes_the_token_from_dotenv_and_never_prints_it(tmp_path):
    root = project_copy(tmp_path)
    cache = tmp_path / "cache"
    sdir = cache / "ensembl" / "homo_sapiens"
    sdir.mkdir(parents=True)
    (sdir / "vcf_urls.json").write_text(json.dumps(["https://x.org/homo_sapiens-chr21.vcf.gz"]))
    pl.DataFrame({"chrom": ["21"], "start": pl.Series([5], dtype=pl.UInt32)}).write_parquet(
        sdir / "homo_sapiens-chr21.parquet")
    token = "hf_dotenv_write_token_42"
    hub = FakeHub().start()
    try:
        hub.add_token(token, "write", orgs={"test-org": "write"})
        hub.add_repo("test-org/ensembl_variations")
        (root / ".env").write_text(f"HF_TOKEN={token}\nJUST_DNA_PIPELINES_CACHE_DIR={cache}\n"
                                   "HF_ENSEMBL_REPO=test-org/ensembl_variations\n")
        env = dict(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1",
                   HF_HOME=str(tmp_path / "hf-home"), NO_PROXY="127.0.0.1,localhost", RETRIES="0")
        result = run_in(root, [str(ROOT / ".venv" / "bin" / "just"), "upload", "--dry-run"], **env)
        assert result.returncode == 0, output(result)
        assert "authenticated as" in result.stderr  # the token of .env reached the Hub client
        assert "upload  data/homo_sapiens-chr21.parquet" in result.stdout
        assert token not in output(result)
        # The environment's token wins over the file's.
        other = run_in(root, [str(ROOT / ".venv" / "bin" / "just"), "upload", "--dry-run"],
                       HF_TOKEN="hf_not_a_valid_token", **env)
        assert "rejected the token (401" in other.stdout + other.stderr
    finally:
        hub.stop()


def test_dotenv_is_git_ignored():
    assert subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT).returncode == 0

"""Configuration precedence: built-in default < config.toml < environment / Make variable."""

from pathlib import Path

import pytest

import config
from helpers import make, output


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

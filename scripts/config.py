"""Configuration: config.toml, overridden by environment / Make variables.

Standard library only, so that Make can call it before the virtualenv exists:
``python3 scripts/config.py make-vars`` prints ``NAME ?= value`` lines for the
Makefile. Precedence (highest first): a script's command-line option, an
environment variable (Make exports its variables) named as the upper-case key,
the project's ``.env`` file (``NAME=value`` lines, below the environment),
config.toml (or the file named by ``PA_CONFIG``), the Dagster tool's old variables
(FALLBACKS), the defaults below.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "sql"  # the SQL every module shares
MODULES_DIR = SQL_DIR / "modules"  # one folder per annotation module (module.toml + SQL)
MODULE_NAME = re.compile(r"[a-z][a-z0-9_]*")


class ConfigError(Exception):
    pass


def module_folders(root: Path = MODULES_DIR) -> dict[str, Path]:
    """The annotation modules: every folder of sql/modules/ that holds a module.toml, by
    name (the folder's name, a lower-case identifier), in name order."""
    found = {}
    for toml in sorted(root.glob("*/module.toml")):
        name = toml.parent.name
        if not MODULE_NAME.fullmatch(name):
            raise ConfigError(f"{toml.parent}: a module folder's name must be a lower-case identifier "
                              "(letters, digits, _), since it becomes a Make goal and a Hub folder")
        found[name] = toml.parent
    return found


def module_toml(folder: Path) -> dict:
    """A module's module.toml, read (ConfigError naming the file when it cannot be)."""
    path = folder / "module.toml"
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None


def module_defaults() -> dict[str, object]:
    """Per-module keys and their defaults from each module.toml: <module>_url (the source),
    <module>_logo (empty: the module's own logo), <module>_version (its manifest version)."""
    out: dict[str, object] = {}
    for name, folder in module_folders().items():
        meta = module_toml(folder)
        out[f"{name}_url"] = str((meta.get("source") or {}).get("url") or "")
        out[f"{name}_logo"] = ""
        out[f"{name}_version"] = str(meta.get("version") or "1.0.0")
    return out


DEFAULTS: dict[str, object] = {
    "species": "homo_sapiens",
    "base_url": "https://ftp.ensembl.org/pub/current_variation/vcf/",
    "pattern": "",
    "cache_dir": "",
    "max_concurrent_downloads": 4,
    "retries": 10,
    "connect_timeout": 10.0,
    "read_timeout": 120.0,
    "retry_backoff": 1.0,
    "verify_checksums": True,
    "force_download": False,
    # conversion (vcf2parquet)
    "max_concurrent_conversions": 2,
    "threads": 0,  # 0 = auto
    # annotation modules (sql/modules/<module>/; per-module keys below, from module_defaults())
    "modules": "",  # comma-separated module names; empty = every module folder
    "ensembl_parquet": "",  # empty = the Parquet targets of the species' discovery manifest
    "memory_limit": "1GB",
    "curator": "",  # empty = each module's own (module.toml); set: every module's
    "method": "",
    # Hugging Face Hub
    "hf_ensembl_repo": "just-dna-seq/ensembl_variations",
    "hf_modules_repo": "just-dna-seq/annotators",
    # make consumer-layout: just-dna-lite's own directory (its cache and state), outside ours
    "consumer_dir": "",  # empty = <cache_dir>-consumer
}
try:
    DEFAULTS.update(module_defaults())
except ConfigError as _exc:  # reported by load(), with the rest of the configuration
    MODULE_ERROR: str | None = str(_exc)
else:
    MODULE_ERROR = None

# Environment / Make variable names that differ from the upper-case key.
ALIASES = {"force_download": ("FORCE",)}
# The older Dagster tool's variables: used when neither our own variable nor the
# configuration file sets the key.
FALLBACKS = {"max_concurrent_downloads": "PREPARE_ANNOTATIONS_DOWNLOAD_WORKERS",
             "max_concurrent_conversions": "PREPARE_ANNOTATIONS_PARQUET_WORKERS"}
DOTENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def _coerce(key: str, raw: str, default: object) -> object:
    try:
        if isinstance(default, bool):
            low = raw.strip().lower()
            if low in TRUE:
                return True
            if low in FALSE:
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise ConfigError(f"{key}: cannot read {raw!r} as {type(default).__name__}") from None
    return raw


def config_path(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("PA_CONFIG") or ROOT / "config.toml")


def dotenv_path(env: dict[str, str] | None = None) -> Path | None:
    """The project's .env file: ``PA_DOTENV`` when set (empty: none), else <project>/.env."""
    env = os.environ if env is None else env
    if "PA_DOTENV" in env:
        return Path(env["PA_DOTENV"]) if env["PA_DOTENV"] else None
    return ROOT / ".env"


def read_dotenv(path: Path | None) -> dict[str, str]:
    """``NAME=value`` lines of a .env file (``export NAME=value`` too; '#' comments,
    blank lines; a value in single or double quotes is taken as it is inside them; no
    expansion). A missing file is empty. Errors name the line, never its value."""
    if path is None:
        return {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not DOTENV_NAME.fullmatch(name):
            raise ConfigError(f"{path}: line {number} is not NAME=value")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


def apply_dotenv() -> None:
    """Put the .env file's variables into this process's environment, below what is
    already set there (so HF_TOKEN and the like reach the libraries too)."""
    for name, value in read_dotenv(dotenv_path()).items():
        os.environ.setdefault(name, value)


def load(env: dict[str, str] | None = None) -> dict[str, object]:
    """Return the resolved configuration (defaults < old variables < file < .env <
    environment). With an explicit ``env`` that mapping is the whole environment (no
    .env is read)."""
    if env is None:
        # an empty variable is no setting (Make exports the variables it has, empty or
        # not): it does not hide the .env file's value
        env = {**read_dotenv(dotenv_path()), **{k: v for k, v in os.environ.items() if v != ""}}
    cfg = dict(DEFAULTS)
    for key, name in FALLBACKS.items():
        if env.get(name):
            cfg[key] = _coerce(name, env[name], DEFAULTS[key])
    path = config_path(env)
    if path.exists():
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        for key, value in data.items():
            if key in cfg and type(cfg[key]) is float and isinstance(value, int):
                value = float(value)
            cfg[key] = value
    elif "PA_CONFIG" in env:
        raise ConfigError(f"{path}: configuration file not found")
    for key, default in list(cfg.items()):
        for name in ALIASES.get(key, (key.upper(),)):
            if name in env and env[name] != "":
                cfg[key] = _coerce(key, env[name], default if default is not None else "")
                break
    if not cfg["cache_dir"]:
        home = env.get("HOME") or str(Path.home())
        cfg["cache_dir"] = env.get("JUST_DNA_PIPELINES_CACHE_DIR") or str(
            Path(home) / ".cache" / "just-dna-pipelines"
        )
    cfg["cache_dir"] = str(Path(os.path.expanduser(str(cfg["cache_dir"]))).absolute())
    if not re.fullmatch(r"[a-z0-9][a-z0-9_]*", str(cfg["species"])):
        raise ConfigError(f"species: {cfg['species']!r} is not an Ensembl species name (like homo_sapiens)")
    if not str(cfg["base_url"]).endswith("/"):
        cfg["base_url"] = str(cfg["base_url"]) + "/"
    if MODULE_ERROR:
        raise ConfigError(MODULE_ERROR)
    cfg["modules"] = ",".join(selected_modules(cfg))
    return cfg


def selected_modules(cfg: dict[str, object]) -> list[str]:
    """The modules of config `modules` (MODULES=a,b), in the order given; empty: every
    module folder. An unknown name is a ConfigError naming the known ones."""
    known = list(module_folders())
    wanted = [m.strip() for m in str(cfg.get("modules") or "").replace(" ", ",").split(",") if m.strip()]
    unknown = [m for m in wanted if m not in known]
    if unknown:
        raise ConfigError(f"modules: no module {', '.join(unknown)} (sql/modules/ has {', '.join(known)})")
    return list(dict.fromkeys(wanted)) or known


MAKE_VARS = ("species", "cache_dir", "max_concurrent_downloads", "max_concurrent_conversions",
             "ensembl_parquet", "force_download")
MAY_BE_EMPTY = {"ensembl_parquet"}


def discovery_key(cfg: dict[str, object]) -> str:
    """Short digest of what discovery depends on (base_url, species, pattern)."""
    text = "\n".join(str(cfg[k]) for k in ("base_url", "species", "pattern"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def params_key(cfg: dict[str, object], module: str) -> str:
    """Short digest of a module's build parameters recorded in its inputs.txt (curator,
    method, version): Make compares it, with the file list, to inputs.key at parse time."""
    text = "\n".join(str(cfg[k]) for k in ("curator", "method", f"{module}_version"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def source_key(cfg: dict[str, object], module: str) -> str:
    """Short digest of where a module's source and logo come from (<module>_url,
    <module>_logo): a change fetches them again (source.key, rewritten at parse time)."""
    text = "\n".join(str(cfg[k]) for k in (f"{module}_url", f"{module}_logo"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def module_make_vars(cfg: dict[str, object]) -> list[tuple[str, str]]:
    """The modules for the Makefile, as (NAME, value): ALL_MODULES, MODULE_LIST (config
    modules), and per module its source URL, local file name, species and the two keys above."""
    words = [("ALL_MODULES", ",".join(module_folders())), ("MODULE_LIST", str(cfg["modules"]))]
    for name, folder in module_folders().items():
        meta = module_toml(folder)
        source = meta.get("source") or {}
        species = ",".join(meta.get("species") or [])
        words += [(f"URL_{name}", str(cfg[f"{name}_url"])), (f"SOURCE_FILE_{name}", str(source.get("file", ""))),
                  (f"SPECIES_{name}", species), (f"PARAMS_KEY_{name}", params_key(cfg, name)),
                  (f"SOURCE_KEY_{name}", source_key(cfg, name))]
    return words


def make_word(name: str, value: str, label: str, may_be_empty: bool) -> str:
    """``NAME?=value``, or a ConfigError naming ``label`` when Make cannot take the value
    as one word of a path (empty unless ``may_be_empty``, space, $, # or ')."""
    if (not value and not may_be_empty) or any(c.isspace() or c in "$#'" for c in value):
        raise ConfigError(f"{label}: {value!r} cannot be used in a Make path "
                          f"({'' if may_be_empty else 'empty, '}space, $, # or ')")
    return f"{name}?={value}"


def make_vars(cfg: dict[str, object]) -> str:
    """One ``NAME?=value`` word per variable, for ``$(foreach v,...,$(eval $(v)))``."""
    words = []
    for key in MAKE_VARS:
        value = str(int(cfg[key]) if isinstance(cfg[key], bool) else cfg[key])
        words.append(make_word(ALIASES.get(key, (key.upper(),))[0], value, key, key in MAY_BE_EMPTY))
    words.append(f"DISCOVERY_KEY?={discovery_key(cfg)}")
    words += [make_word(name, value, name, True) for name, value in module_make_vars(cfg)]
    return " ".join(words) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["make-vars"]:
        try:
            sys.stdout.write(make_vars(load()))
        except ConfigError as exc:
            sys.exit(f"config: {exc}")
    else:
        sys.exit("usage: python3 scripts/config.py make-vars")

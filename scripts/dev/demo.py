"""The whole pipeline on the bundled offline mini-mirror (`make demo`), and the page on
its result (`./just demo-ui`).

  python scripts/dev/demo.py run      # make demo: mirror, pipeline, second run, what it made
  python scripts/dev/demo.py ui       # ./just demo-ui: the mini mirror and the page together

`run` builds the mini Ensembl mirror (scripts/dev/mirror.py) into demo/mirror, serves it
on 127.0.0.1 on a free port, runs `make download parquet longevitymap` for homo_sapiens
and `make download parquet` for mus_musculus into a fresh demo/cache, runs the human
pipeline a second time to show it has nothing left to do, and prints the files. It pins
the demo's settings in demo/demo.env (CACHE_DIR, the mirror's BASE_URL, the curation's
URL, no Hub token, the Hub offline), a .env file that later commands read with
PA_DOTENV=demo/demo.env.

`ui` serves the mirror again on the port of demo.env's BASE_URL and starts the page
(ui/server.py) with those settings: everything is up to date, and every button works
offline (downloads and refresh from the mirror; uploads refused: no token, the Hub
offline). Ctrl-C stops both.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import typer

import onpath  # noqa: F401 - scripts/ on sys.path, before the pipeline's modules
import common
import config
import mirror

DEMO = common.ROOT / "demo"
MIRROR, CACHE, SETTINGS = DEMO / "mirror", DEMO / "cache", DEMO / "demo.env"
RUNS = [("homo_sapiens", ["download", "parquet", "longevitymap"]), ("mus_musculus", ["download", "parquet"])]
# Variables of the caller that would tie the demo's runs to another run, cache or
# configuration (`make demo` exports the resolved configuration).
DROP = {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PA_RUN_ID", "PA_RUN_LABEL", "PA_CONFIG", "PA_DOTENV",
        *(name for key in config.DEFAULTS for name in config.ALIASES.get(key, (key.upper(),)))}

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in DROP}


def settings(url: str) -> dict[str, str]:
    """The demo's settings: its cache, the mirror's listing and curation, and a Hub that
    cannot be reached with no token (a click on upload is refused, nothing leaves)."""
    return {"CACHE_DIR": str(CACHE), "BASE_URL": f"{url}/",
            "LONGEVITYMAP_URL": f"{url}/longevitymap/longevitymap.sqlite", "FORCE": "0",
            "HF_TOKEN": "", "HF_HOME": str(DEMO / "hf-home"), "HF_HUB_OFFLINE": "1"}


def write_settings(values: dict[str, str]) -> None:
    lines = ["# The demo's settings, written by `make demo` (scripts/dev/demo.py). `./just demo-ui` serves",
             "# the mini mirror at BASE_URL again and opens the page with them; any other command reads",
             "# them with PA_DOTENV=demo/demo.env (e.g. PA_DOTENV=demo/demo.env ./just status)."]
    SETTINGS.write_text("\n".join(lines + [f"{k}={v}" for k, v in values.items()]) + "\n")


def run_make(goals: list[str], env: dict[str, str]) -> float:
    cmd = ["make", "-C", str(common.ROOT), "--no-print-directory", *goals]
    print(f"\n$ {' '.join(f'{k}={env[k]}' for k in ('SPECIES', 'CACHE_DIR', 'BASE_URL'))} make {' '.join(goals)}",
          flush=True)
    t0 = time.perf_counter()
    if subprocess.run(cmd, env=env).returncode != 0:
        common.die(f"`make {' '.join(goals)}` failed (see above)")
    return time.perf_counter() - t0


def report(cache: Path) -> None:
    import polars as pl
    import pyarrow.parquet as pq

    print(f"\nWhat the demo produced under {cache}:")
    for path in sorted(p for p in cache.rglob("*") if p.is_file() and p.relative_to(cache).parts[0] != "tmp"):
        rel = path.relative_to(cache)
        extra = ""
        if path.suffix == ".parquet":
            meta = pq.ParquetFile(path).metadata
            extra = f"  {meta.num_rows:>6,} rows, {meta.num_columns} columns"
        print(f"  {str(rel):<62} {common.human_bytes(path.stat().st_size):>10}{extra}")
    weights = cache / "modules" / "longevitymap" / "weights.parquet"
    if weights.exists():
        print(f"\nLongevityMap weights for the APOE variants ({weights.name}):")
        df = pl.read_parquet(weights).filter(pl.col("rsid").is_in(["rs7412", "rs429358"]))
        with pl.Config(tbl_rows=20, tbl_cols=10, fmt_str_lengths=20):
            print(df.select("rsid", "genotype", "weight", "state", "chrom", "start", "ref", "alts", "clin_sig")
                  .sort("rsid", "weight"))


@app.command()
def run(fresh: bool = typer.Option(True, help="Start from an empty demo/cache.")) -> None:
    """Run the demo (make demo)."""
    t0 = time.perf_counter()
    stamp = MIRROR / ".built"
    sources = [common.ROOT / "scripts" / "dev" / n for n in ("mirror.py", "synthvcf.py", "lmfixture.py")]
    if not stamp.exists() or any(s.stat().st_mtime > stamp.stat().st_mtime for s in sources):
        shutil.rmtree(MIRROR, ignore_errors=True)
        mirror.build(MIRROR)
        stamp.touch()
    if fresh:
        shutil.rmtree(CACHE, ignore_errors=True)
    with mirror.MirrorServer(MIRROR, style="pre") as server:
        print(f"mini Ensembl mirror {MIRROR} served at {server.url}/")
        values = settings(server.url)
        write_settings(values)
        env = {**clean_env(), **values}
        for species, goals in RUNS:
            run_make(goals, {**env, "SPECIES": species})
        before = len(server.log)
        seconds = run_make(RUNS[0][1], {**env, "SPECIES": RUNS[0][0]})
        print(f"second run: {seconds:.2f} s, {len(server.log) - before} HTTP requests")
    report(CACHE)
    print("\n$ PA_DOTENV=demo/demo.env ./just status", flush=True)
    subprocess.run([str(common.ROOT / "just"), "status"], env={**clean_env(), "PA_DOTENV": str(SETTINGS)})
    print(f"\nThe demo took {time.perf_counter() - t0:.0f} s; its settings are in demo/demo.env.")
    print("Open the page on it (the mini mirror and the page together, offline; Ctrl-C stops both):\n")
    print("  ./just demo-ui\n")
    print("Any other command on the demo reads the same settings: PA_DOTENV=demo/demo.env ./just status")


@app.command()
def ui(port: int = typer.Option(int(os.environ.get("UI_PORT") or 3000), help="The page's port (env UI_PORT)."),
       verbose: bool = typer.Option(False, help="Log every request of the page.")) -> None:
    """Serve the demo's mini mirror and the page on the demo cache together (./just demo-ui)."""
    if not SETTINGS.is_file() or not (CACHE / "ensembl").is_dir():
        common.die(f"no demo yet ({SETTINGS} or {CACHE} is missing): run `make demo` first")
    values = config.read_dotenv(SETTINGS)
    mirror_port = urlsplit(values.get("BASE_URL", "")).port
    if not mirror_port:
        common.die(f"{SETTINGS}: no BASE_URL with a port; run `make demo` again")
    try:
        server = mirror.MirrorServer(MIRROR, port=mirror_port, style="pre")
    except OSError as exc:
        common.die(f"cannot serve the demo mirror on 127.0.0.1:{mirror_port} ({exc.strerror or exc}): is another "
                   "`./just demo-ui` running? Stop it, or run `make demo` again (it picks a free port)")
    with server:
        print(f"demo: mini Ensembl mirror {MIRROR} at {server.url}/ (BASE_URL of {SETTINGS.relative_to(common.ROOT)})",
              flush=True)
        page = subprocess.Popen([sys.executable, str(common.ROOT / "ui" / "server.py"), "serve", "--port", str(port),
                                 *(["--verbose"] if verbose else [])],
                                cwd=common.ROOT, env={**clean_env(), **values, "PA_DOTENV": ""})
        try:
            code = page.wait()
        except KeyboardInterrupt:  # Ctrl-C (the page got it too) or a signal to this process only
            if page.poll() is None:
                page.send_signal(signal.SIGINT)
            try:
                code = page.wait(30)
            except subprocess.TimeoutExpired:
                page.kill()
                code = page.wait()
    print("demo: mini mirror stopped", flush=True)
    raise typer.Exit(0 if code in (0, -signal.SIGINT, 130) else code)


if __name__ == "__main__":
    app()

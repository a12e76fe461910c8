# prepare-annotations — human-facing recipes. They wrap `make` and the scripts;
# the Makefile is the pipeline. `./just --list` shows them (./just runs the just of the
# project's environment, .venv/bin/just, building the environment first when needed).

# A .env at the project root is read by make and by the scripts each recipe runs
# (below the environment), so it applies to every recipe; just's own dotenv-load,
# which would also look in parent directories, is not used.
set shell := ["bash", "-eu", "-o", "pipefail", "-c"]
set positional-arguments

py := ".venv/bin/python"

# List the recipes
default:
    @{{just_executable()}} --list --justfile {{justfile()}}

# Run the pipeline on the bundled offline mini-mirror (into demo/cache)
demo:
    make demo

# The page on the demo: serves the mini mirror and the page together (UI_PORT=N); Ctrl-C stops both
demo-ui *args:
    @make --no-print-directory -s venv
    @{{env_args}} exec {{py}} scripts/dev/demo.py ui "$@"

# Run the whole test suite
test *args:
    make test PYTEST_ARGS="$*"

# Discover and download the selected VCFs (e.g. `just download SPECIES=mus_musculus`)
download *vars:
    make "$@" download

# Re-check downloaded VCFs against CHECKSUMS; remove corrupted ones
verify *vars:
    make "$@" verify

# Read the Ensembl listing again
refresh *vars:
    make "$@" refresh

# Convert the downloaded VCFs to Parquet, downloading what is missing (e.g. `just parquet THREADS=4`)
parquet *vars:
    make "$@" parquet

# Benchmark VCF -> Parquet against the polars-bio baseline (`just bench BENCH_RECORDS=500000`)
bench *vars:
    make "$@" bench

# Build every annotation module (e.g. `just modules MODULES=coronary,drugs`)
modules *vars:
    make "$@" modules

# Build the LongevityMap module tables (e.g. `just longevitymap ENSEMBL_PARQUET='/data/*.parquet'`)
longevitymap *vars:
    make "$@" longevitymap

# Time `longevitymap` on a synthetic 20M-row Ensembl Parquet set (LM_BENCH_ROWS=N to change)
bench-longevitymap *vars:
    make "$@" bench-longevitymap

# Lay out the built Parquet set + modules for just-dna-lite (offline use); prints its env vars
consumer-layout *vars:
    @make -s "$@" consumer-layout

# NAME=value words, before or after the options (`just upload SPECIES=mus_musculus --dry-run`,
# `just upload --dry-run CACHE_DIR=/data`), become environment variables, as Make variables
# do for the other recipes; the other words go to the script.
env_args := 'rest=(); for a in "$@"; do if [[ $a =~ ^[A-Z_][A-Z0-9_]*= ]]; then export "$a"; else rest+=("$a"); fi; done; set -- "${rest[@]}";'

# Publish the Ensembl Parquet set + dataset card to the Hub (`just upload --dry-run` shows the plan; `--prune` deletes stale data/ files)
upload *args:
    @make --no-print-directory -s venv
    @{{env_args}} {{py}} scripts/upload.py ensembl "$@"

# Publish every changed module to data/<module>/ of the modules repo in ONE commit, deleting what the build no longer makes there (`--dry-run` shows the plan)
upload-modules *args:
    @make --no-print-directory -s venv
    @{{env_args}} {{py}} scripts/upload.py modules "$@"

# The LongevityMap module alone (`just upload-modules --module longevitymap`)
upload-longevitymap *args:
    @make --no-print-directory -s venv
    @{{env_args}} {{py}} scripts/upload.py longevitymap "$@"

# Where the pipeline stands: one row per target (`--json`, `--check` for CI, `--watch`; e.g. `just status SPECIES=mus_musculus --json`)
status *args:
    @make --no-print-directory -s venv
    @{{env_args}} {{py}} scripts/status.py "$@"

# The local web page on http://127.0.0.1:3000 (UI_PORT=N): graph, details, runs with live log; Ctrl-C stops it
ui *args:
    @make --no-print-directory -s venv
    @{{env_args}} exec {{py}} ui/server.py serve "$@"

# The last runs (make, the scripts, the page) from the step logs: label, start, duration, result, log (`--json`, `--last N`)
runs *args:
    @make --no-print-directory -s venv
    @{{env_args}} {{py}} scripts/runs.py "$@"

# The same page written once as one HTML file: <cache>/report.html (`just report --out FILE`)
report *args:
    @make --no-print-directory -s venv
    @{{env_args}} {{py}} ui/server.py report "$@"

# CI legs (docs/ci.md): one Parquet file's facts as a JSON report (no network)
upload-report *args:
    @make --no-print-directory -s venv
    @{{env_args}} {{py}} scripts/publish_ci.py report "$@"

# CI legs: upload one Parquet file to the dataset's staging branch (staging/<release>)
upload-stage *args:
    @make --no-print-directory -s venv
    @{{env_args}} {{py}} scripts/publish_ci.py stage "$@"

# CI gather: check the staging branch against the plan and reports, then ONE commit on main
upload-gather *args:
    @make --no-print-directory -s venv
    @{{env_args}} {{py}} scripts/publish_ci.py gather "$@"

# CI gather: fail, naming them, when planned files have no leg report (`just upload-check legs/reports --plan targets.json`)
upload-check *args:
    @make --no-print-directory -s venv
    @{{env_args}} {{py}} scripts/publish_ci.py check "$@"

# prepare-annotations — human-facing recipes. They wrap `make` and the scripts;
# the Makefile is the pipeline. `just --list` shows them.

set shell := ["bash", "-eu", "-o", "pipefail", "-c"]
set positional-arguments

py := ".venv/bin/python"

# List the recipes
default:
    @just --list

# Run the pipeline on the bundled offline mini-mirror (into demo/cache)
demo:
    make demo

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

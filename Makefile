# prepare-annotations — the pipeline. `make help` lists targets and variables.
#
#   listing ─discover─▶ vcf_urls.json ─fetch+sumcheck─▶ vcf/<name>.vcf.gz ─vcf2parquet─▶ <name>.parquet
#
# Every stop is a file under $(CACHE_DIR); every rule writes a temporary name and renames.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules

.DEFAULT_GOAL := all
.PHONY: all help download vcfs verify refresh demo test bench venv lock clean force

## all: discover, download and verify, convert (the whole pipeline for $(SPECIES))
all: download

# ---------------------------------------------------------------- configuration
# config.toml gives the defaults; a Make variable or an environment variable of the
# same upper-case name overrides it (scripts read the same variables, see README).
PYTHON ?= python3
$(foreach v,$(shell $(PYTHON) scripts/config.py make-vars),$(eval $(v)))
ifneq ($(.SHELLSTATUS),0)
$(error could not read the configuration (see the message above))
endif
FORCE ?= 0
PYTEST_ARGS ?=
export SPECIES CACHE_DIR FORCE BASE_URL PATTERN RETRIES CONNECT_TIMEOUT READ_TIMEOUT RETRY_BACKOFF \
       VERIFY_CHECKSUMS MAX_CONCURRENT_DOWNLOADS MAX_CONCURRENT_CONVERSIONS THREADS \
       LONGEVITYMAP_URL ENSEMBL_PARQUET MEMORY_LIMIT CURATOR METHOD HF_ENSEMBL_REPO \
       HF_MODULES_REPO JUST_DNA_PIPELINES_CACHE_DIR PA_CONFIG

SPECIES_DIR := $(CACHE_DIR)/ensembl/$(SPECIES)
VCF_DIR     := $(SPECIES_DIR)/vcf
URLS        := $(SPECIES_DIR)/vcf_urls.json
FRAGMENT    := $(SPECIES_DIR)/vcf_files.mk
# FORCE=1 makes every file target out of date.
FORCED      := $(if $(filter 1 true yes,$(FORCE)),force)

# ---------------------------------------------------------------- environment
# A fresh machine has python3, pip and make: uv comes from PyPI into .tools/ when it
# is not on PATH, then `uv sync --locked` builds .venv from uv.lock.
VENV    := .venv
PY      := $(VENV)/bin/python
VENV_OK := $(VENV)/.synced
UV      := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check uv

$(VENV_OK): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(UV) sync --locked --python $(PYTHON) --quiet
	touch $@

## venv: create or update the virtualenv (.venv) from uv.lock
venv: $(VENV_OK)

## lock: refresh uv.lock after editing pyproject.toml
lock: | $(UV)
	$(UV) lock

# ---------------------------------------------------------------- discover
# The per-file targets come from a Make fragment written from vcf_urls.json. It is
# included only for goals that need it, so `make help` or `make test` never touch the
# network. Discovery runs when vcf_urls.json is missing, or on `make refresh`.
PIPELINE_GOALS := all download vcfs verify parquet longevitymap
ifneq ($(if $(MAKECMDGOALS),$(filter $(PIPELINE_GOALS),$(MAKECMDGOALS)),all),)
include $(FRAGMENT)
endif
VCF_NAMES ?=
VCFS := $(VCF_NAMES:%=$(VCF_DIR)/%)

$(URLS): | $(VENV_OK)
	$(PY) scripts/discover.py

$(FRAGMENT): $(URLS) scripts/discover.py | $(VENV_OK)
	$(PY) scripts/discover.py fragment

## refresh: read the Ensembl listing and CHECKSUMS again
refresh: | $(VENV_OK)
	$(PY) scripts/discover.py

# ---------------------------------------------------------------- download
## download: fetch the selected VCFs with resume and checksum check (-j from MAX_CONCURRENT_DOWNLOADS)
download:
	+@$(MAKE) --no-print-directory $(if $(findstring -j,$(MAKEFLAGS)),,-j$(MAX_CONCURRENT_DOWNLOADS)) vcfs

vcfs: $(VCFS)

# vcf_urls.json is rewritten only when the listing or CHECKSUMS changed; then the
# fetcher re-checks what is there and downloads only what no longer matches.
$(VCF_DIR)/%.vcf.gz: $(URLS) $(FORCED) | $(VENV_OK)
	$(PY) scripts/fetch.py vcf $*.vcf.gz

## verify: re-check every downloaded VCF against CHECKSUMS, remove the corrupted ones
verify: | $(VENV_OK)
	$(PY) scripts/sumcheck.py verify

# ---------------------------------------------------------------- convert
# (issue 3: parquet, bench)

# ---------------------------------------------------------------- longevitymap
# (issue 4: longevitymap)

# ---------------------------------------------------------------- upload
# (issue 5: upload recipes live in the justfile)

# ---------------------------------------------------------------- project
## demo: run the pipeline on the bundled offline mini-mirror (into demo/cache)
demo: $(VENV_OK)
	$(PY) scripts/demo.py

## test: create the environment and run the whole test suite
test: $(VENV_OK)
	$(PY) -m pytest $(PYTEST_ARGS)

## help: list targets and variables
help:
	@echo "Targets:"
	@sed -n 's/^## \([a-z-]*\): /  \1\t/p' $(MAKEFILE_LIST) | expand -t 18
	@echo
	@echo "Variables (Make or environment; defaults from config.toml):"
	@echo "  SPECIES=$(SPECIES)  CACHE_DIR=$(CACHE_DIR)"
	@echo "  BASE_URL, PATTERN, RETRIES, CONNECT_TIMEOUT, READ_TIMEOUT, VERIFY_CHECKSUMS,"
	@echo "  MAX_CONCURRENT_DOWNLOADS=$(MAX_CONCURRENT_DOWNLOADS), FORCE=1 (redo file targets)"

## clean: remove the demo output and caches inside the project (never $(CACHE_DIR))
clean:
	rm -rf demo .pytest_cache

force:

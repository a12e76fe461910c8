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
.PHONY: all help download vcfs verify refresh demo test lint bench venv lock clean force parquet parquets longevitymap bench-vcf bench-longevitymap \
        consumer-layout status bench-status targets-json discovery-failed

## all: the whole pipeline (the default goal): download, then parquet, then longevitymap
all:
	+@$(MAKE) --no-print-directory download
	+@$(MAKE) --no-print-directory parquet
	+@$(MAKE) --no-print-directory longevitymap

# ---------------------------------------------------------------- configuration
# config.toml gives the defaults; a Make variable or an environment variable of the
# same upper-case name overrides it (scripts read the same variables, see README).
PYTHON ?= python3
# $(shell) does not see variables given on the make command line: pass those explicitly.
CONFIG_VARS := SPECIES BASE_URL PATTERN CACHE_DIR MAX_CONCURRENT_DOWNLOADS MAX_CONCURRENT_CONVERSIONS \
               LONGEVITYMAP_URL ENSEMBL_PARQUET FORCE PA_CONFIG JUST_DNA_PIPELINES_CACHE_DIR CURATOR METHOD
# (and the .env file's location, the Dagster tool's worker variables: see README, Configuration)
CONFIG_VARS += PA_DOTENV PREPARE_ANNOTATIONS_DOWNLOAD_WORKERS PREPARE_ANNOTATIONS_PARQUET_WORKERS
CLI_CONFIG  := $(foreach v,$(CONFIG_VARS),$(if $(filter command line,$(origin $(v))),$(v)='$(subst ','\'',$($(v)))'))
$(foreach v,$(shell $(CLI_CONFIG) $(PYTHON) scripts/config.py make-vars),$(eval $(v)))
ifneq ($(.SHELLSTATUS),0)
$(error could not read the configuration (see the message above))
endif
PYTEST_ARGS ?=
export SPECIES CACHE_DIR FORCE BASE_URL PATTERN RETRIES CONNECT_TIMEOUT READ_TIMEOUT RETRY_BACKOFF \
       VERIFY_CHECKSUMS MAX_CONCURRENT_DOWNLOADS MAX_CONCURRENT_CONVERSIONS THREADS \
       LONGEVITYMAP_URL ENSEMBL_PARQUET MEMORY_LIMIT CURATOR METHOD HF_ENSEMBL_REPO \
       HF_MODULES_REPO JUST_DNA_PIPELINES_CACHE_DIR PA_CONFIG

# One id per run of make started from a shell or the page (sub-makes inherit it): each
# step-log line of the run carries it and the label, so the runs view (scripts/runs.py,
# `./just runs`, the page) groups the lines of one run. Made of make's pid and start time,
# so it stays the same when make restarts itself after remaking the discovery fragment.
ifeq ($(origin PA_RUN_ID),undefined)
PA_RUN_ID := make-$(shell echo "$$PPID-$$(awk '{print $$22}' /proc/$$PPID/stat 2>/dev/null || date +%s)")
endif
PA_RUN_LABEL ?= make $(or $(MAKECMDGOALS),all)
export PA_RUN_ID PA_RUN_LABEL

SPECIES_DIR := $(CACHE_DIR)/ensembl/$(SPECIES)
VCF_DIR     := $(SPECIES_DIR)/vcf
URLS        := $(SPECIES_DIR)/vcf_urls.json
FRAGMENT    := $(SPECIES_DIR)/vcf_files.mk
# FORCE=1 (config force_download) redoes the file targets of the stage asked for, once:
# `make parquet FORCE=1` converts again without downloading again, `make download
# FORCE=1` downloads again, `make FORCE=1` redoes each stage once, and `make <file>
# FORCE=1` rebuilds that one Parquet or hits file (what verify names for a damaged one).
FORCED      := $(if $(filter 1 true yes,$(FORCE)),force)
forced_for   = $(if $(filter $(1),$(MAKECMDGOALS)),$(FORCED))
FORCED_DL   := $(call forced_for,download vcfs)
# -jN given by the user (MAKEFLAGS also carries command-line variables: match the flag only).
JOBS_GIVEN  = $(filter -j%,$(MAKEFLAGS))

# ---------------------------------------------------------------- environment
# A fresh machine has python3, pip and make: uv comes from PyPI into .tools/ when it
# is not on PATH, then `uv sync --locked` builds .venv from uv.lock.
VENV    := .venv
PY      := $(VENV)/bin/python
VENV_OK := $(VENV)/.synced
UV      := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)

# (pip --target needs no venv module, which some distributions package separately)
.tools/bin/uv:
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --quiet --disable-pip-version-check --target .tools uv

$(VENV_OK): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(UV) sync --locked --compile-bytecode --python $(PYTHON) --quiet
	touch $@

## venv: create or update the virtualenv (.venv) from uv.lock
venv: $(VENV_OK)

## lock: refresh uv.lock after editing pyproject.toml
lock: | $(UV)
	$(UV) lock

# ---------------------------------------------------------------- discover
# The per-file targets come from a Make fragment written from vcf_urls.json. It is
# included only for goals that need it, so `make help` or `make test` never touch the
# network: the pipeline goals, targets-json, and single-file goals (a file under the
# species directory or a LongevityMap hits file), so one CI leg builds its file from
# an empty cache. Discovery runs when vcf_urls.json is missing, when BASE_URL, SPECIES
# or PATTERN changed since the last discovery, or on `make refresh`.
# longevitymap needs it only for the species' own files, not when ENSEMBL_PARQUET or
# LM_HITS (a directory of hits files made elsewhere, see below) is set.
LM_HITS ?=
PIPELINE_GOALS := download vcfs parquet parquets longevitymap targets-json
FILE_GOALS     := $(filter $(SPECIES_DIR)/% $(CACHE_DIR)/modules/longevitymap/hits/%,$(MAKECMDGOALS))
FRAGMENT_GOALS := $(filter-out $(if $(ENSEMBL_PARQUET)$(LM_HITS),longevitymap),$(filter $(PIPELINE_GOALS),$(MAKECMDGOALS))) $(FILE_GOALS)
# discovery.key: a digest of BASE_URL, SPECIES and PATTERN, rewritten when they change.
DISCOVERY := $(SPECIES_DIR)/discovery.key
EXPECTED  := $(SPECIES_DIR)/expected
# DISCOVERY_FAILED names a target that stops the build when the fragment could not be
# made: a missing fragment is included with -include (so Make does not print "No such
# file or directory" before discovery's own error), and then every goal that needs the
# file list depends on it, so a failed discovery never passes for an empty list.
DISCOVERY_FAILED :=
ifneq ($(strip $(FRAGMENT_GOALS)),)
ifneq ($(file <$(DISCOVERY)),$(DISCOVERY_KEY))
$(shell mkdir -p '$(SPECIES_DIR)')
$(file >$(DISCOVERY),$(DISCOVERY_KEY))
endif
ifneq ($(wildcard $(FRAGMENT)),)
include $(FRAGMENT)
else
-include $(FRAGMENT)
DISCOVERY_FAILED := discovery-failed
endif
endif
VCF_NAMES ?=
VCFS := $(VCF_NAMES:%=$(VCF_DIR)/%)

# Reached only when the fragment is still missing after Make tried to make it.
discovery-failed:
	$(error discovery of $(SPECIES) at $(BASE_URL) failed (see the message above); nothing was built)

# `make targets-json` prints only the JSON (recipes silent, discovery's output on stderr).
ifneq ($(filter targets-json,$(MAKECMDGOALS)),)
.SILENT:
DISCOVER_OUT := >&2
endif
DISCOVER_OUT ?=

$(URLS): $(DISCOVERY) | $(VENV_OK)
	$(PY) scripts/discover.py $(DISCOVER_OUT)

$(DISCOVERY):
	mkdir -p $(@D) && echo $(DISCOVERY_KEY) > $@

# expected/<name>: the file's line of CHECKSUMS, rewritten only when it changes, so a
# new CHECKSUMS re-checks exactly the files whose checksum changed.
$(EXPECTED)/%: | $(VENV_OK) $(DISCOVERY_FAILED)
	$(PY) scripts/discover.py fragment

$(FRAGMENT): $(URLS) scripts/discover.py | $(VENV_OK)
	$(PY) scripts/discover.py fragment

## targets-json: print the per-file work (name, URL, checksum, paths, Make targets) as JSON, for CI fan-out
targets-json: | $(VENV_OK) $(DISCOVERY_FAILED)
	$(PY) scripts/discover.py targets

## refresh: read the Ensembl listing and CHECKSUMS again
# It records BASE_URL, SPECIES and PATTERN in discovery.key first (when they changed), so
# the file goals that follow use this listing and do not discover again.
refresh: | $(VENV_OK)
	@mkdir -p $(SPECIES_DIR) && [[ "$$(cat $(DISCOVERY) 2>/dev/null)" == $(DISCOVERY_KEY) ]] || echo $(DISCOVERY_KEY) > $(DISCOVERY)
	$(PY) scripts/discover.py

# ---------------------------------------------------------------- download
## download: fetch the selected VCFs with resume and checksum check (-j from MAX_CONCURRENT_DOWNLOADS)
download: | $(DISCOVERY_FAILED)
	+@$(MAKE) --no-print-directory $(if $(JOBS_GIVEN),,-j$(MAX_CONCURRENT_DOWNLOADS)) vcfs

vcfs: $(VCFS) | $(DISCOVERY_FAILED)

# A file whose CHECKSUMS line changed (expected/<name>) is re-checked and downloaded
# again only if it no longer matches.
$(VCF_DIR)/%.vcf.gz: $(EXPECTED)/%.vcf.gz $(FORCED_DL) | $(VENV_OK)
	FORCE=$(if $(FORCED_DL),1,0) $(PY) scripts/fetch.py vcf $*.vcf.gz

## verify: re-check every downloaded VCF against CHECKSUMS, remove the corrupted ones
verify: | $(VENV_OK)
	$(PY) scripts/sumcheck.py verify

# ---------------------------------------------------------------- convert
# One Parquet per VCF, flat in the species directory, rebuilt when its VCF or the
# converter is newer (FORCE=1: always). THREADS (config `threads`, 0 = one per CPU)
# is the number of pieces one conversion parses at once.
PARQUETS := $(VCF_NAMES:%.vcf.gz=$(SPECIES_DIR)/%.parquet)

## parquet: convert the VCFs to Parquet (downloading what is missing; -j from MAX_CONCURRENT_CONVERSIONS)
parquet: | $(DISCOVERY_FAILED)
	+@$(MAKE) --no-print-directory $(if $(JOBS_GIVEN),,-j$(MAX_CONCURRENT_CONVERSIONS)) parquets

parquets: $(PARQUETS) | $(DISCOVERY_FAILED)

# The converter's code is a prerequisite: editing it rebuilds what it made.
CONVERTER := scripts/vcf2parquet.py scripts/vcftext.py
$(SPECIES_DIR)/%.parquet: $(VCF_DIR)/%.vcf.gz $(CONVERTER) $(call forced_for,parquet parquets $(SPECIES_DIR)/%.parquet) | $(VENV_OK)
	$(PY) scripts/vcf2parquet.py $< $@

# Benchmark on a synthetic Ensembl-shaped VCF of BENCH_RECORDS records (generated once,
# cached under bench/): decompression floor, polars-bio baseline, this converter.
BENCH_RECORDS ?= 2000000

## bench: the benchmarks below (figures printed and written to bench/*.json)
bench: bench-vcf bench-longevitymap bench-status

## bench-vcf: time VCF -> Parquet against the polars-bio baseline (BENCH_RECORDS; bench/vcf2parquet.json)
bench-vcf: scripts/dev/vcfbench.py $(CONVERTER) scripts/dev/synthvcf.py | $(VENV_OK)
	$(PY) scripts/dev/vcfbench.py --records $(BENCH_RECORDS) --json bench/vcf2parquet.json

# ---------------------------------------------------------------- longevitymap
# The curated SQLite is fetched (or copied from a local path) once, checked, and kept;
# FORCE=1 fetches it again. The module tables are rebuilt when the SQLite, a SQL file,
# the script, an input file, the list of those files, CURATOR or METHOD changed.
# Map/reduce: the only step that reads the Ensembl set is the semi-join with the curated
# rsids, done per Parquet file into a small hits file (the map, `make
# <LM_DIR>/hits/<stem>.lm-hits.parquet`, one per file of `make parquet`); the tables are
# built from the hits files (the reduce), byte for byte as from the whole set. LM_HITS=dir
# builds them from the *.lm-hits.parquet files in dir alone (a CI gather job: no Ensembl
# Parquet and no discovery needed). ENSEMBL_PARQUET (config ensembl_parquet: a path,
# directory or glob) reads that set directly instead (and needs no discovery either).
LM_DIR     := $(CACHE_DIR)/modules/longevitymap
LM_SQLITE  := $(LM_DIR)/longevitymap.sqlite
LM_INPUTS  := $(LM_DIR)/inputs.txt
LM_OUTPUTS := $(addprefix $(LM_DIR)/,annotations.parquet studies.parquet weights.parquet unresolved.tsv conflicts.tsv)
LM_ENSEMBL_SRC := $(ENSEMBL_PARQUET)
LM_URL         := $(LONGEVITYMAP_URL)
LM_HITS_DIR    := $(LM_DIR)/hits
LM_HITS_FILES  := $(if $(LM_HITS),$(sort $(wildcard $(LM_HITS)/*.lm-hits.parquet)),$(PARQUETS:$(SPECIES_DIR)/%.parquet=$(LM_HITS_DIR)/%.lm-hits.parquet))
LM_ENSEMBL     := $(if $(LM_ENSEMBL_SRC),$(filter %.parquet,$(wildcard $(LM_ENSEMBL_SRC) $(LM_ENSEMBL_SRC)/*.parquet)),$(LM_HITS_FILES))
# A local curation file is a prerequisite (edit it, the module is rebuilt); a URL is not.
LM_URL_FILE    := $(if $(findstring ://,$(LM_URL)),,$(wildcard $(LM_URL)))

## longevitymap: build the LongevityMap module (annotations, studies, weights) in CACHE_DIR/modules/longevitymap
longevitymap: $(LM_OUTPUTS) | $(DISCOVERY_FAILED)

# No script prerequisite here on purpose: editing longevitymap.py must not download
# the curation again (FORCE=1 does).
$(LM_SQLITE): $(LM_URL_FILE) $(call forced_for,longevitymap) | $(VENV_OK)
	$(PY) scripts/longevitymap.py fetch

# inputs.txt holds the file list, CURATOR, METHOD and the module parameters. Make
# itself notices a change, at parse time and without running a script: inputs.key holds
# a digest of CURATOR and METHOD (LM_PARAMS_KEY, from config.py) and the file list, and
# is rewritten only when that changes. So a different set or config rebuilds the tables,
# an unchanged one does not, and `make -q longevitymap` tells the truth. (Like
# discovery.key, it is written while parsing, so also under -n and -q; scripts/status.py
# lm_rule() mirrors this rule.)
LM_KEYFILE := $(LM_DIR)/inputs.key
LM_KEY     := $(strip $(LM_PARAMS_KEY) $(abspath $(LM_ENSEMBL)))
ifneq ($(filter longevitymap $(LM_DIR)/%,$(MAKECMDGOALS)),)
ifneq ($(file <$(LM_KEYFILE)),$(LM_KEY))
$(shell mkdir -p '$(LM_DIR)')
$(file >$(LM_KEYFILE),$(LM_KEY))
endif
endif

$(LM_KEYFILE):
	mkdir -p $(@D) && echo '$(LM_KEY)' > $@

$(LM_INPUTS): $(LM_KEYFILE) | $(VENV_OK)
	@$(PY) scripts/longevitymap.py inputs $(LM_ENSEMBL)
	@touch $@

# The script reads exactly the Parquet files Make tracks. Its code (the script and the
# modules it runs on) is a prerequisite.
LM_CODE := scripts/longevitymap.py scripts/ensembl_set.py scripts/duck.py
$(LM_OUTPUTS) &: $(LM_SQLITE) $(wildcard sql/*.sql) $(LM_CODE) $(LM_ENSEMBL) $(LM_INPUTS) $(call forced_for,longevitymap) | $(VENV_OK) $(DISCOVERY_FAILED)
	$(PY) scripts/longevitymap.py build $(LM_ENSEMBL)

# The map: one Parquet file's records of the curated rsids (not with LM_HITS, whose
# files are made elsewhere and must not be rebuilt here).
ifeq ($(LM_HITS),)
$(LM_HITS_DIR)/%.lm-hits.parquet: $(SPECIES_DIR)/%.parquet $(LM_SQLITE) sql/curated.sql sql/lm_hits.sql $(LM_CODE) $(call forced_for,$(LM_HITS_DIR)/%) | $(VENV_OK)
	$(PY) scripts/longevitymap.py hits $< $@
endif

# Benchmark: a synthetic Ensembl Parquet set of LM_BENCH_ROWS rows (cached under bench/,
# rebuilt when its generator changes), then the real script against it.
LM_BENCH_ROWS ?= 20000000
LM_BENCH_SET  := bench/longevitymap/ensembl-$(LM_BENCH_ROWS)/manifest.json

$(LM_BENCH_SET): scripts/dev/lmbench.py scripts/dev/lmfixture.py | $(VENV_OK)
	$(PY) scripts/dev/lmbench.py data $(@D) --rows $(LM_BENCH_ROWS)

## bench-longevitymap: time `longevitymap` on a synthetic set of LM_BENCH_ROWS Ensembl rows (bench/longevitymap.json)
bench-longevitymap: $(LM_BENCH_SET) | $(VENV_OK)
	$(PY) scripts/dev/lmbench.py run $(<D) bench/longevitymap.json

# ---------------------------------------------------------------- status
# Where the pipeline stands, worked out from the files and step logs (no network, no
# work started; `status` is not a pipeline goal, so parsing reads no fragment).
STATUS_ARGS ?=

## status: one row per target: state (missing/partial/running/failed/stale/up to date), size, rows, time, RSS
status: | $(VENV_OK)
	@$(PY) scripts/status.py $(STATUS_ARGS)

## bench-status: time `status --json` on a synthetic full human cache (25 VCF + 25 Parquet, 10,000-line log)
bench-status: | $(VENV_OK)
	$(PY) scripts/dev/statusbench.py --json bench/status.json

# ---------------------------------------------------------------- ui / report
# The local web page (ui/server.py, `just ui`) and the same page written once as one
# self-contained HTML file. Both show what scripts/status.py works out (no network).
.PHONY: ui report
UI_PORT ?= 3000
REPORT  ?=

## ui: the local web page on http://127.0.0.1:UI_PORT (graph, details, runs with live log); Ctrl-C stops it
ui: | $(VENV_OK)
	@$(PY) ui/server.py serve --port $(UI_PORT)

## report: the page as one self-contained HTML file (CACHE_DIR/report.html, or REPORT=path)
report: | $(VENV_OK)
	@$(PY) ui/server.py report $(if $(REPORT),--out '$(REPORT)')

# ---------------------------------------------------------------- upload
# (issue 5: upload recipes live in the justfile)

# ---------------------------------------------------------------- consumer
# Hard links (copies across file systems) of what is built, in just-dna-lite's layout:
# nothing is built or fetched here. Env lines go to stdout: eval "$(make -s consumer-layout)".
## consumer-layout: lay out the Parquet set + LongevityMap in just-dna-lite's layout (CACHE_DIR/just-dna-lite/SPECIES), print its env vars
consumer-layout: | $(VENV_OK)
	@$(PY) scripts/consumer.py layout

# ---------------------------------------------------------------- project
## demo: run the pipeline on the bundled offline mini-mirror (into demo/cache)
demo: $(VENV_OK)
	$(PY) scripts/dev/demo.py run

## lint: ruff (pyflakes and pycodestyle errors) over the Python code
lint: $(VENV_OK)
	$(VENV)/bin/ruff check --quiet scripts tests $(wildcard ui)

# axe-core, pinned in tests/axe/package-lock.json, for the page's accessibility check in
# tests/test_ui.py (npm ci: the lock's exact version; without npm the check cannot run,
# which fails the test under CI=true)
AXE := tests/axe/node_modules/axe-core/axe.min.js
$(AXE): tests/axe/package.json tests/axe/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/axe --no-audit --no-fund --ignore-scripts --silent && touch $@; \
	else echo "warning: npm not found: tests/test_ui.py cannot run its accessibility check (install Node.js and npm)" >&2; fi

## test: create the environment, lint, install axe-core (npm ci), and run the whole test suite
test: lint $(AXE)
	$(PY) -m pytest $(PYTEST_ARGS)

## help: list targets and variables
help:
	@echo "Targets:"
	@sed -n 's/^## \([a-z-]*\): /  \1\t/p' $(MAKEFILE_LIST) | expand -t 22
	@echo
	@echo "Variables (Make or environment; defaults from config.toml):"
	@echo "  SPECIES=$(SPECIES)  CACHE_DIR=$(CACHE_DIR)"
	@echo "  BASE_URL, PATTERN, RETRIES, CONNECT_TIMEOUT, READ_TIMEOUT, VERIFY_CHECKSUMS,"
	@echo "  MAX_CONCURRENT_DOWNLOADS=$(MAX_CONCURRENT_DOWNLOADS), MAX_CONCURRENT_CONVERSIONS=$(MAX_CONCURRENT_CONVERSIONS),"
	@echo "  THREADS, FORCE=1 (redo file targets), LONGEVITYMAP_URL, ENSEMBL_PARQUET, LM_HITS=dir, MEMORY_LIMIT,"
	@echo "  BENCH_RECORDS=$(BENCH_RECORDS), LM_BENCH_ROWS=$(LM_BENCH_ROWS)"
	@echo
	@echo "Recipes (upload, status, ui, runs, demo-ui...): ./just --list"

## clean: remove the demo output and caches inside the project (never the cache CACHE_DIR names)
clean:
	rm -rf demo .pytest_cache

force:

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
.PHONY: all help download vcfs verify refresh demo test lint bench venv lock clean force parquet parquets bench-vcf bench-longevitymap \
        consumer-layout status bench-status targets-json discovery-failed

## all: the whole pipeline (the default goal): download, then parquet, then the modules curating SPECIES
all:
	+@$(MAKE) --no-print-directory download
	+@$(MAKE) --no-print-directory parquet
	+@$(if $(strip $(SPECIES_MODULES)),$(MAKE) --no-print-directory modules MODULES=$(subst $(space),$(comma),$(strip $(SPECIES_MODULES))),echo "modules: no module curates $(SPECIES); none built")

# ---------------------------------------------------------------- configuration
# config.toml gives the defaults; a Make variable or an environment variable of the
# same upper-case name overrides it (scripts read the same variables, see README).
PYTHON ?= python3
comma := ,
empty :=
space := $(empty) $(empty)
# $(shell) does not see variables given on the make command line: pass those explicitly
# (every one: any config key may be given, e.g. CORONARY_URL=..., see README, Configuration).
CLI_VARS    := $(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v)))
CLI_CONFIG  := $(foreach v,$(CLI_VARS),$(v)='$(subst ','\'',$($(v)))')
$(foreach v,$(shell $(CLI_CONFIG) $(PYTHON) scripts/config.py make-vars),$(eval $(v)))
ifneq ($(.SHELLSTATUS),0)
$(error could not read the configuration (see the message above))
endif
PYTEST_ARGS ?=
# MODULE_HITS=dir: a directory of hits files made elsewhere (see modules below); LM_HITS is
# its older name.
LM_HITS     ?=
MODULE_HITS ?=
MODULE_HITS := $(or $(MODULE_HITS),$(LM_HITS))
export SPECIES CACHE_DIR FORCE BASE_URL PATTERN RETRIES CONNECT_TIMEOUT READ_TIMEOUT RETRY_BACKOFF \
       VERIFY_CHECKSUMS MAX_CONCURRENT_DOWNLOADS MAX_CONCURRENT_CONVERSIONS THREADS \
       ENSEMBL_PARQUET MEMORY_LIMIT CURATOR METHOD HF_ENSEMBL_REPO MODULES MODULE_HITS \
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
# species directory, a module's file or a hits file), so one CI leg builds its file from
# an empty cache. Discovery runs when vcf_urls.json is missing, when BASE_URL, SPECIES
# or PATTERN changed since the last discovery, or on `make refresh`.
# The modules need it only for the species' own files, not when ENSEMBL_PARQUET or
# MODULE_HITS (a directory of hits files made elsewhere, see below) is set.
MODULE_NAMES      := $(subst $(comma), ,$(ALL_MODULES))
MODULE_GOAL_NAMES := modules $(MODULE_NAMES)
PIPELINE_GOALS := download vcfs parquet parquets targets-json $(MODULE_GOAL_NAMES)
FILE_GOALS     := $(filter $(SPECIES_DIR)/% $(CACHE_DIR)/modules/%,$(MAKECMDGOALS))
FRAGMENT_GOALS := $(filter-out $(if $(ENSEMBL_PARQUET)$(MODULE_HITS),$(MODULE_GOAL_NAMES) $(CACHE_DIR)/modules/%),$(filter $(PIPELINE_GOALS),$(MAKECMDGOALS)) $(FILE_GOALS))
# discovery.key: a digest of BASE_URL, SPECIES and PATTERN, rewritten when they change
# (write_if_changed: a key file written at parse time only when its text changes, compared
# stripped: GNU Make 4.3's $(file <) does not always drop the final newline; the modules'
# keys below use it too).
DISCOVERY := $(SPECIES_DIR)/discovery.key
streq            = $(and $(findstring x$(1)x,x$(2)x),$(findstring x$(2)x,x$(1)x))
write_if_changed = $(if $(call streq,$(strip $(file <$(1))),$(strip $(2))),,$(shell mkdir -p '$(dir $(1))')$(file >$(1),$(2)))
EXPECTED  := $(SPECIES_DIR)/expected
# DISCOVERY_FAILED names a target that stops the build when the fragment could not be
# made: a missing fragment is included with -include (so Make does not print "No such
# file or directory" before discovery's own error), and then every goal that needs the
# file list depends on it, so a failed discovery never passes for an empty list.
DISCOVERY_FAILED :=
ifneq ($(strip $(FRAGMENT_GOALS)),)
$(call write_if_changed,$(DISCOVERY),$(DISCOVERY_KEY))
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

# ---------------------------------------------------------------- modules
# Each annotation module is a folder sql/modules/<module>/ (module.toml + SQL); config.py
# lists them (ALL_MODULES) and the chosen set (MODULE_LIST, config `modules`, MODULES=a,b),
# with each one's source URL and file, species and parameter keys. Per module <m>:
#   <m>/<source file>  fetched (or copied from a local path) once, checked, kept; fetched
#                      again with FORCE=1, when <m>_url or <m>_logo changed (source.key), or,
#                      for a local path, when that file changes;
#   <m>/inputs.txt     the file list and the parameters (curator, method, version), rewritten
#                      only when inputs.key (written at parse time, like discovery.key) changed;
#   the outputs        one grouped target: the tables, sources.parquet, manifest.json,
#                      metadata.yaml and the two reports, rebuilt when the source, the module's
#                      folder, the shared SQL, the code, an input file or inputs.txt changed.
# Map/reduce: the only step that reads the Ensembl set is the semi-join with the curated
# rsids of every module of the set, done per Parquet file into one small hits file (the
# map, `make <MOD_ROOT>/hits/<stem>.hits.parquet`, one per file of `make parquet`); each
# module's tables are built from the hits files (the reduce), byte for byte as from the
# whole set. MODULE_HITS=dir builds them from the *.hits.parquet files in dir alone (a CI
# gather job: no Ensembl Parquet and no discovery needed). ENSEMBL_PARQUET (config
# ensembl_parquet: a path, directory or glob) reads that set directly instead.
# The curations are human: a module goal for a species no module of it curates is refused
# here, at parse time, before any file under <cache>/modules is written.
MODULES_SET    := $(subst $(comma), ,$(MODULE_LIST))
MOD_ROOT       := $(CACHE_DIR)/modules
HITS_DIR       := $(MOD_ROOT)/hits
MODULE_OUTPUTS := annotations.parquet studies.parquet weights.parquet sources.parquet manifest.json metadata.yaml \
                  unresolved.tsv conflicts.tsv
HITS_CODE      := scripts/modules.py scripts/modbuild.py scripts/moduledef.py scripts/modsource.py \
                  scripts/ensembl_set.py scripts/duck.py
MODULE_CODE    := $(HITS_CODE) scripts/modcard.py
HITS_FILES     := $(if $(MODULE_HITS),$(sort $(wildcard $(MODULE_HITS)/*.hits.parquet)),$(PARQUETS:$(SPECIES_DIR)/%.parquet=$(HITS_DIR)/%.hits.parquet))
MOD_ENSEMBL    := $(if $(ENSEMBL_PARQUET),$(filter %.parquet,$(wildcard $(ENSEMBL_PARQUET) $(ENSEMBL_PARQUET)/*.parquet)),$(HITS_FILES))
species_of      = $(subst $(comma), ,$(SPECIES_$(1)))
# The modules the goals build (`modules` and a hits file: the set), and those refused.
GOAL_MODULES   := $(sort $(if $(filter modules $(HITS_DIR)/%,$(MAKECMDGOALS)),$(MODULES_SET)) \
                    $(filter $(MODULE_NAMES),$(MAKECMDGOALS)) \
                    $(foreach m,$(MODULE_NAMES),$(if $(filter $(MOD_ROOT)/$(m)/%,$(MAKECMDGOALS)),$(m))))
REFUSED        := $(foreach m,$(GOAL_MODULES),$(if $(filter $(SPECIES),$(call species_of,$(m))),,$(m)))
ifneq ($(strip $(REFUSED)),)
$(error refusing to build $(strip $(REFUSED)) for $(SPECIES): the curations are of $(sort $(foreach m,$(REFUSED),$(call species_of,$(m)))) (GRCh38), so the module tables are built against that Ensembl set only; nothing under $(MOD_ROOT) was written (run it with SPECIES=$(firstword $(foreach m,$(REFUSED),$(call species_of,$(m))))))
endif
# The set's modules that curate SPECIES (what `make all` builds).
SPECIES_MODULES := $(foreach m,$(MODULES_SET),$(if $(filter $(SPECIES),$(call species_of,$(m))),$(m)))

# Keys Make compares at parse time, written only when they change (also under -n and -q,
# like discovery.key; stages.py mirrors these rules): source.key (<m>_url, <m>_logo) for
# every module whose source the goals need, inputs.key (parameters + file list) of the goal
# modules, hits/modules.key (the set whose rsids the hits hold).
# (write_if_changed: see discover above.)
HITS_KEYFILE    := $(HITS_DIR)/modules.key
ifneq ($(strip $(GOAL_MODULES)),)
NEEDED_SOURCES  := $(sort $(GOAL_MODULES) $(if $(ENSEMBL_PARQUET)$(MODULE_HITS),,$(MODULES_SET)))
$(foreach m,$(NEEDED_SOURCES),$(call write_if_changed,$(MOD_ROOT)/$(m)/source.key,$(SOURCE_KEY_$(m))))
$(foreach m,$(GOAL_MODULES),$(call write_if_changed,$(MOD_ROOT)/$(m)/inputs.key,$(strip $(PARAMS_KEY_$(m)) $(abspath $(MOD_ENSEMBL)))))
$(if $(ENSEMBL_PARQUET)$(MODULE_HITS),,$(call write_if_changed,$(HITS_KEYFILE),$(MODULE_LIST)))
endif

## modules: build every module of MODULES (config modules; default all) in CACHE_DIR/modules/<module>
modules: $(MODULES_SET) | $(DISCOVERY_FAILED)
.PHONY: modules $(MODULE_NAMES)

# One module's targets. (No script prerequisite for the source: editing the code must not
# download the curation again; FORCE=1 does.)
define MODULE_RULES
$(1)_SOURCE   := $(MOD_ROOT)/$(1)/$(SOURCE_FILE_$(1))
$(1)_OUTPUTS  := $(addprefix $(MOD_ROOT)/$(1)/,$(MODULE_OUTPUTS))
$(1)_CODE     := $(wildcard sql/modules/$(1)/*.sql sql/modules/$(1)/module.toml)
$(1)_URL_FILE := $(if $(findstring ://,$(URL_$(1))),,$(wildcard $(URL_$(1))))

$(1): $$($(1)_OUTPUTS) | $(DISCOVERY_FAILED)

$$($(1)_SOURCE): $(MOD_ROOT)/$(1)/source.key $$($(1)_URL_FILE) $(call forced_for,modules $(1)) | $(VENV_OK)
	$(PY) scripts/modules.py fetch $(1)

$(MOD_ROOT)/$(1)/source.key $(MOD_ROOT)/$(1)/inputs.key:
	mkdir -p $$(@D) && touch $$@

$(MOD_ROOT)/$(1)/inputs.txt: $(MOD_ROOT)/$(1)/inputs.key | $(VENV_OK)
	@$(PY) scripts/modules.py inputs $(1) $(MOD_ENSEMBL)
	@touch $$@

$$($(1)_OUTPUTS) &: $$($(1)_SOURCE) $(wildcard sql/*.sql) $$($(1)_CODE) $(MODULE_CODE) $(MOD_ENSEMBL) \
                    $(MOD_ROOT)/$(1)/inputs.txt $(call forced_for,modules $(1)) | $(VENV_OK) $(DISCOVERY_FAILED)
	$(PY) scripts/modules.py build $(1) $(MOD_ENSEMBL)
endef
$(foreach m,$(MODULE_NAMES),$(eval $(call MODULE_RULES,$(m))))

$(HITS_KEYFILE):
	mkdir -p $(@D) && touch $@

# The map: one Parquet file's records of the curated rsids of every module of the set (not
# with MODULE_HITS, whose files are made elsewhere and must not be rebuilt here).
ifeq ($(MODULE_HITS),)
$(HITS_DIR)/%.hits.parquet: $(SPECIES_DIR)/%.parquet $(HITS_KEYFILE) $(foreach m,$(MODULES_SET),$($(m)_SOURCE) \
                            $($(m)_CODE)) sql/claims.sql sql/hits.sql $(HITS_CODE) \
                            $(call forced_for,$(HITS_DIR)/%) | $(VENV_OK)
	$(PY) scripts/modules.py hits $< $@
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
## consumer-layout: lay out the Parquet set + the built modules for just-dna-lite (CACHE_DIR/just-dna-lite/SPECIES), print its env vars
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
	@echo "  THREADS, FORCE=1 (redo file targets), MODULES=a,b, <MODULE>_URL, ENSEMBL_PARQUET, MODULE_HITS=dir, MEMORY_LIMIT,"
	@echo "  modules: $(ALL_MODULES) (each a goal: make coronary)"
	@echo "  BENCH_RECORDS=$(BENCH_RECORDS), LM_BENCH_ROWS=$(LM_BENCH_ROWS)"
	@echo
	@echo "Recipes (upload, status, ui, runs, demo-ui...): ./just --list"

## clean: remove the demo output and caches inside the project (never the cache CACHE_DIR names)
clean:
	rm -rf demo .pytest_cache

force:

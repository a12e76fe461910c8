"""Every file the pipeline writes gets the mode the umask gives a new file (0644 under
umask 022, 0664 under 002), and every directory 0755 / 0775: a consumer running as
another user (a service account, a shared lab server) can read them. Before issue 16,
the files written through the atomic-write helper (mkstemp) were 0600: manifest.json,
metadata.yaml, modules.yaml, CHECKSUMS, vcf_urls.json, the Make fragment, reports."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import mirror
from helpers import ROOT, output
from hubstub import FakeHub

PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
TOKEN = "hf_test_write_token_0123456789"


def under_umask(mask: int, argv: list[str], env: dict) -> subprocess.CompletedProcess:
    def set_mask() -> None:
        os.umask(mask)

    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
                          preexec_fn=set_mask)


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_every_output_gets_the_umask_mode(server, tmp_path, mask):
    cache = tmp_path / "cache"
    hub = FakeHub().start()
    hub.add_token(TOKEN, "write", orgs={"test-org": "write"})
    hub.add_repo("test-org/ensembl_variations")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(CACHE_DIR=str(cache), BASE_URL=f"{server.url}/", RETRY_BACKOFF="0.01",
               **mirror.module_env(server.url), HF_ENDPOINT=hub.url,
               HF_TOKEN=TOKEN, HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "hf-home"),
               HF_ENSEMBL_REPO="test-org/ensembl_variations", RETRIES="0", NO_PROXY="127.0.0.1,localhost")
    sdir = cache / "ensembl" / "homo_sapiens"
    try:
        steps = [
            ["make", "--no-print-directory", "download", "parquet", "modules"],  # VCFs, Parquet, hits, tables
            ["make", "--no-print-directory", "verify"],
            ["make", "--no-print-directory", "-s", "consumer-layout"],   # manifest.json, metadata.yaml, modules.yaml
            ["make", "--no-print-directory", "report"],                  # report.html
            [PY, "scripts/publish_ci.py", "report", str(sdir / "homo_sapiens-chr21.parquet"),
             str(cache / "leg" / "chr21.json")],                          # a leg's JSON report
            [PY, "scripts/upload.py", "ensembl", "--dry-run"],           # upload_digests.json
        ]
        for argv in steps:
            r = under_umask(mask, argv, env)
            assert r.returncode == 0, f"{argv}: {output(r)}"
    finally:
        hub.stop()

    want_file, want_dir = 0o666 & ~mask, 0o777 & ~mask
    seen, wrong = set(), []
    for top in (cache, Path(f"{cache}-consumer")):  # (and just-dna-lite's directory, beside the cache)
        for path in [top, *top.rglob("*")] if top.exists() else []:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                continue
            want = want_dir if stat.S_ISDIR(st.st_mode) else want_file
            if stat.S_IMODE(st.st_mode) != want:
                wrong.append(f"{path.relative_to(tmp_path)} {stat.S_IMODE(st.st_mode):o}")
            seen.add(path.name if not path.suffix == ".parquet" else "*.parquet")
    assert wrong == [], f"not {want_file:o} (files) / {want_dir:o} (directories): {wrong}"
    # every kind of output was there to be checked
    kinds = {"*.parquet", "manifest.json", "metadata.yaml", "modules.yaml", "unresolved.tsv", "conflicts.tsv",
             "steps.jsonl", "CHECKSUMS", "vcf_urls.json", "vcf_files.mk", "discovery.key", "inputs.txt",
             "inputs.key", "source.key", "modules.key", "report.html", "chr21.json", "upload_digests.json",
             "longevitymap.sqlite", "annotation_tab.tsv", "logo.png",
             "homo_sapiens-chr21.vcf.gz", "homo_sapiens-chr21.vcf.gz.lock"}
    assert kinds <= seen, kinds - seen

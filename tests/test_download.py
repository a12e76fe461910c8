"""discover → fetch-with-resume → sum-check, end to end through real `make` runs
against a real HTTP server on 127.0.0.1 serving the mini mirror, with faults."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

import common
import discover
import mirror
import sumcheck
from helpers import make, output

HUMAN = ["homo_sapiens-chr19.vcf.gz", "homo_sapiens-chr21.vcf.gz", "homo_sapiens-chrMT.vcf.gz",
         "homo_sapiens-chrX.vcf.gz"]
CHR21 = "/homo_sapiens/homo_sapiens-chr21.vcf.gz"


@pytest.fixture
def site(mirror_site, tmp_path) -> Path:
    """A private copy of the mirror, so a test may change files on the server."""
    return Path(shutil.copytree(mirror_site, tmp_path / "site"))


@pytest.fixture
def server(site):
    with mirror.MirrorServer(site) as srv:
        yield srv


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def vcf_dir(cache: Path, species: str = "homo_sapiens") -> Path:
    return cache / "ensembl" / species / "vcf"


def gets(server, suffix: str) -> list[dict]:
    return [r for r in server.requests_for(suffix) if r["method"] == "GET"]


# ------------------------------------------------------------------ BSD sum


def test_bsd_sum_known_vectors(tmp_path):
    hello, empty = tmp_path / "hello", tmp_path / "empty"
    hello.write_bytes(b"hello world\n")
    empty.write_bytes(b"")
    for fn in (sumcheck.python_sum, sumcheck.file_sum):
        assert str(fn(hello)) == "03762 1"
        assert str(fn(empty)) == "00000 0"


def test_system_sum_agrees_with_python_oracle(tmp_path):
    assert sumcheck._system_sum(), "GNU coreutils `sum` (part of every Linux base system) not found"
    rng = random.Random(7)
    for size in (1, 1023, 1024, 1025, 70_001):
        path = tmp_path / f"f{size}"
        path.write_bytes(bytes(rng.randrange(256) for _ in range(size)))
        assert sumcheck.file_sum(path) == sumcheck.python_sum(path)
        assert sumcheck.python_sum(path).blocks == -(-size // 1024)


def test_parse_checksums_tabs_spaces_zero_padding():
    text = "03762\t1\thello.vcf.gz\n00042 17 b.vcf.gz\nnot a line\n12 x y\n"
    assert sumcheck.parse_checksums(text) == {"hello.vcf.gz": (3762, 1), "b.vcf.gz": (42, 17)}


# ------------------------------------------------------------------ listing and selection

APACHE_TABLE = """<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">
<html><head><title>Index of /pub/current_variation/vcf/homo_sapiens</title></head><body>
<h1>Index of /pub/current_variation/vcf/homo_sapiens</h1>
<table>
<tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th><th><a href="?C=N;O=D">Name</a></th>
<th><a href="?C=M;O=A">Last modified</a></th><th><a href="?C=S;O=A">Size</a></th></tr>
<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td><td><a href="/pub/current_variation/vcf/">Parent Directory</a></td></tr>
<tr><td><a href="1000GENOMES-phase_3.vcf.gz">1000GENOMES-phase_3.vcf.gz</a></td><td align="right">2025-01-20 10:11  </td></tr>
<tr><td><a href="CHECKSUMS">CHECKSUMS</a></td></tr>
<tr><td><a href="README">README</a></td></tr>
<tr><td><a href="homo_sapiens-chr1.vcf.gz">homo_sapiens-chr1.vcf.gz</a></td></tr>
<tr><td><a href="homo_sapiens-chr1.vcf.gz.csi">homo_sapiens-chr1.vcf.gz.csi</a></td></tr>
<tr><td><a href="homo_sapiens-chr2.vcf.gz">homo_sapiens-chr2.vcf.gz</a></td></tr>
<tr><td><a href="homo_sapiens%2Dchr10.vcf.gz">homo_sapiens-chr10.vcf.gz</a></td></tr>
<tr><td><a href="homo_sapiens-chrMT.vcf.gz">homo_sapiens-chrMT.vcf.gz</a></td></tr>
<tr><td><a href="homo_sapiens_incl_consequences-chr1.vcf.gz">homo_sapiens_incl_consequences-chr1.vcf.gz</a></td></tr>
<tr><td><a href="homo_sapiens_structural_variations.vcf.gz">homo_sapiens_structural_variations.vcf.gz</a></td></tr>
<tr><td><a href="homo_sapiens_somatic_incl_consequences.vcf.gz">x</a></td></tr>
<tr><td><a href="homo_sapiens_phenotype_associated.vcf.gz">x</a></td></tr>
<tr><td><a href="homo_sapiens_clinically_associated.vcf.gz">x</a></td></tr>
<tr><td><a href="old/">old/</a></td></tr>
<tr><td><a href="https://example.org/homo_sapiens-chr3.vcf.gz">elsewhere</a></td></tr>
<tr><td><a href="/pub/other/homo_sapiens-chr4.vcf.gz">absolute</a></td></tr>
<tr><td><a href="../homo_sapiens-chr5.vcf.gz">outside</a></td></tr>
</table></body></html>"""

APACHE_PRE = """<html><head><title>Index of /pub/release-114/variation/vcf/mus_musculus</title></head><body>
<h1>Index of /pub/release-114/variation/vcf/mus_musculus</h1>
<pre><img src="/icons/blank.gif" alt="Icon "> <a href="?C=N;O=D">Name</a>                    <a href="?C=M;O=A">Last modified</a>      <a href="?C=S;O=A">Size</a>  <hr><img src="/icons/back.gif" alt="[PARENTDIR]"> <a href="/pub/release-114/variation/vcf/">Parent Directory</a>                             -
<img src="/icons/unknown.gif" alt="[   ]"> <a href="CHECKSUMS">CHECKSUMS</a>               2025-01-20 10:11  250
<img src="/icons/unknown.gif" alt="[   ]"> <a href="README">README</a>                  2025-01-20 10:11  5.1K
<img src="/icons/compressed.gif" alt="[   ]"> <a href="mus_musculus.vcf.gz">mus_musculus.vcf.gz</a>     2025-01-20 10:11  2.3G
<img src="/icons/unknown.gif" alt="[   ]"> <a href="mus_musculus.vcf.gz.csi">mus_musculus.vcf.gz.csi</a> 2025-01-20 10:11  812K
<img src="/icons/compressed.gif" alt="[   ]"> <a href="mus_musculus_incl_consequences.vcf.gz">mus_musculus_incl_consequences.vcf.gz</a> 2025-01-20 10:11  9.0G
<img src="/icons/compressed.gif" alt="[   ]"> <a href="mus_musculus_structural_variations.vcf.gz">mus_musculus_structural_variations.vcf.gz</a> 2025-01-20 10:11  1.0G
<hr></pre></body></html>"""


def test_listing_table_form():
    names = discover.listing_names(APACHE_TABLE)
    assert "homo_sapiens-chr10.vcf.gz" in names  # URL-decoded
    assert not any(n.startswith(("?", "/", "..", "http")) or n.endswith("/") for n in names)
    assert discover.select(names, "homo_sapiens") == [
        "homo_sapiens-chr1.vcf.gz", "homo_sapiens-chr10.vcf.gz", "homo_sapiens-chr2.vcf.gz",
        "homo_sapiens-chrMT.vcf.gz"]


def test_listing_pre_form_single_file_species():
    names = discover.listing_names(APACHE_PRE)
    assert set(names) == {"CHECKSUMS", "README", "mus_musculus.vcf.gz", "mus_musculus.vcf.gz.csi",
                          "mus_musculus_incl_consequences.vcf.gz", "mus_musculus_structural_variations.vcf.gz"}
    assert discover.select(names, "mus_musculus") == ["mus_musculus.vcf.gz"]


def test_full_human_listing_selects_chr1_22_x_y_mt():
    chroms = [str(i) for i in range(1, 23)] + ["X", "Y", "MT"]
    names = [f"homo_sapiens-chr{c}.vcf.gz" for c in chroms]
    names += [f"{n}.csi" for n in names] + [f"homo_sapiens_incl_consequences-chr{c}.vcf.gz" for c in chroms]
    names += ["homo_sapiens_somatic.vcf.gz", "1000GENOMES-phase_3.vcf.gz", "README", "CHECKSUMS"]
    random.Random(1).shuffle(names)
    chosen = discover.select(names, "homo_sapiens")
    assert sorted(chosen) == chosen and len(chosen) == 25
    assert {c.removeprefix("homo_sapiens-chr").removesuffix(".vcf.gz") for c in chosen} == set(chroms)


def test_pattern_override():
    names = ["homo_sapiens-chr1.vcf.gz", "homo_sapiens-chr2.vcf.gz", "homo_sapiens-chr2.vcf.gz.csi"]
    assert discover.select(names, "homo_sapiens", r".*chr2\.vcf\.gz") == ["homo_sapiens-chr2.vcf.gz"]
    with pytest.raises(common.Failure, match="not a valid regular expression"):
        discover.select(names, "homo_sapiens", "(")


@pytest.mark.parametrize("name", [
    "homo_sapiens-chr1;rm -rf ~.vcf.gz", "homo_sapiens-chr$(shell id).vcf.gz", "homo_sapiens-chr1 .vcf.gz",
    "homo_sapiens-chr1|x.vcf.gz", "homo_sapiens-chr1&x.vcf.gz", "homo_sapiens-chr*.vcf.gz",
    "homo_sapiens-chr?.vcf.gz", "homo_sapiens-chr1:x.vcf.gz", "homo_sapiens-chr../../x.vcf.gz",
    "homo_sapiens-chr1/x.vcf.gz", "homo_sapiens-chr1\nx.vcf.gz", "homo_sapiens-chr..x.vcf.gz",
])
def test_hostile_names_refused(name):
    with pytest.raises(common.Failure, match="refusing unsafe file name"):
        discover.select(["homo_sapiens-chr2.vcf.gz", name], "homo_sapiens")


def test_hostile_name_in_served_listing_fails_before_any_path(server, cache):
    page = mirror.listing_html("/homo_sapiens/", [("homo_sapiens-chr1.vcf.gz", False, 1, 0),
                                                  ("homo_sapiens-chr2;touch pwned.vcf.gz", False, 1, 0)], "table")
    server.pages["/homo_sapiens/"] = page
    result = make("download", cache=cache, server=server)
    assert result.returncode != 0
    assert "refusing unsafe file name 'homo_sapiens-chr2;touch pwned.vcf.gz'" in output(result)
    assert not (cache / "ensembl" / "homo_sapiens" / "vcf_urls.json").exists()
    assert not any("pwned" in str(p) for p in cache.rglob("*"))
    assert not (Path.cwd() / "pwned").exists()


# ------------------------------------------------------------------ make download, end to end


@pytest.mark.parametrize("style", ["table", "pre"])
def test_make_download_brings_exactly_the_selection(server, site, cache, style):
    server.style = style
    result = make("-j4", "download", cache=cache, server=server)
    assert result.returncode == 0, output(result)
    got = sorted(p.name for p in vcf_dir(cache).iterdir())
    assert got == HUMAN
    for name in HUMAN:
        assert (vcf_dir(cache) / name).read_bytes() == (site / "homo_sapiens" / name).read_bytes()
    species = cache / "ensembl" / "homo_sapiens"
    assert json.loads((species / "vcf_urls.json").read_text()) == [f"{server.url}/homo_sapiens/{n}" for n in HUMAN]
    assert (species / "CHECKSUMS").read_bytes() == (site / "homo_sapiens" / "CHECKSUMS").read_bytes()
    steps = [json.loads(line) for line in (species / "steps.jsonl").read_text().splitlines()]
    fetched = [s for s in steps if s["step"] == "fetch"]
    assert len(fetched) == 4 and all(s["outcome"] == "ok" and s["checksum"] for s in fetched)
    assert all(s["peak_rss_bytes"] > 0 and s["seconds"] >= 0 for s in steps)
    # skipped subsets and indexes were never requested
    assert not [r for r in server.log if "incl_consequences" in r["path"] or r["path"].endswith(".csi")]

    # A second run: nothing to do, no network traffic, no re-hashing, well under a second.
    before = len(server.log)
    again = make("download", cache=cache, server=server)
    assert again.returncode == 0, output(again)
    assert len(server.log) == before
    assert "fetch.py" not in again.stdout and "sum" not in again.stdout
    assert again.seconds < 1.0


@pytest.mark.parametrize("args, env, expected", [
    (["-j4", "download"], {}, 4),                                  # an explicit -j wins
    (["download"], {"MAX_CONCURRENT_DOWNLOADS": "2"}, 2),          # else max_concurrent_downloads
])
def test_downloads_run_in_parallel(server, cache, args, env, expected):
    assert make("refresh", cache=cache, server=server).returncode == 0
    for name in HUMAN:
        server.add_fault(f"/homo_sapiens/{name}", "delay", seconds=1.0)
    server.max_in_flight = 0
    result = make(*args, cache=cache, server=server, **env)
    assert result.returncode == 0, output(result)
    assert server.max_in_flight == expected


def test_progress_lines_when_not_on_a_terminal():
    import io

    stream = io.StringIO()
    progress = common.Progress("x.vcf.gz", total=4 << 20, every=0, stream=stream)
    progress.update(1 << 20)
    progress.update(1 << 20)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "x.vcf.gz: 2.0 MiB of 4.0 MiB (50%)" in lines[-1] and "/s" in lines[-1] and "ETA" in lines[-1]


def test_mouse_single_file_layout(server, site, cache):
    result = make("download", "SPECIES=mus_musculus", cache=cache, server=server)
    assert result.returncode == 0, output(result)
    vcf = vcf_dir(cache, "mus_musculus") / "mus_musculus.vcf.gz"
    assert [p.name for p in vcf.parent.iterdir()] == ["mus_musculus.vcf.gz"]
    assert vcf.read_bytes() == (site / "mus_musculus" / "mus_musculus.vcf.gz").read_bytes()


def test_discovery_is_not_repeated_until_refresh(server, site, cache):
    assert make("download", cache=cache, server=server).returncode == 0
    listing = cache / "ensembl" / "homo_sapiens" / "vcf_urls.json"
    (vcf_dir(cache) / "homo_sapiens-chrMT.vcf.gz").unlink()
    make("download", cache=cache, server=server)
    assert len([r for r in server.log if r["path"] == "/homo_sapiens/"]) == 1
    expected = cache / "ensembl" / "homo_sapiens" / "expected"
    stamps = {p.name: p.stat().st_mtime_ns for p in expected.iterdir()}
    assert sorted(stamps) == HUMAN and listing.exists()
    refreshed = make("refresh", cache=cache, server=server)
    assert refreshed.returncode == 0, output(refreshed)
    assert len([r for r in server.log if r["path"] == "/homo_sapiens/"]) == 2
    # unchanged checksums: the per-file stamps are untouched, so there is nothing to redo
    assert {p.name: p.stat().st_mtime_ns for p in expected.iterdir()} == stamps
    before = len(server.log)
    assert make("download", cache=cache, server=server).returncode == 0
    assert len(server.log) == before


# ------------------------------------------------------------------ faults


def test_cut_connection_resumes_without_refetching(server, site, cache):
    size = (site / CHR21[1:]).stat().st_size
    server.add_fault(CHR21, "cut", after=10_000)
    result = make("download", cache=cache, server=server)
    assert result.returncode == 0, output(result)
    reqs = gets(server, CHR21)
    assert [r["range"] for r in reqs] == [None, "bytes=10000-"]
    assert reqs[1]["if_range"]  # guarded by the ETag of the first response
    assert (vcf_dir(cache) / CHR21.rsplit("/", 1)[1]).read_bytes() == (site / CHR21[1:]).read_bytes()
    assert size > 10_000
    assert "retry 1/10" in output(result)


def test_range_ignored_restarts_from_zero(server, site, cache):
    server.add_fault(CHR21, "cut", after=5_000)
    server.add_fault(CHR21, "ignore_range", times=None)
    result = make("download", cache=cache, server=server)
    assert result.returncode == 0, output(result)
    assert "restarting from zero" in output(result)
    assert (vcf_dir(cache) / "homo_sapiens-chr21.vcf.gz").read_bytes() == (site / CHR21[1:]).read_bytes()


def test_changed_file_is_not_spliced(server, site, cache):
    """If-Range: a partial download of an old version is not completed with the new one."""
    server.add_fault(CHR21, "cut", after=5_000)
    first = make("download", "RETRIES=0", cache=cache, server=server)
    assert first.returncode != 0
    part = vcf_dir(cache) / "homo_sapiens-chr21.vcf.gz.part"
    assert part.stat().st_size == 5_000 and not (vcf_dir(cache) / "homo_sapiens-chr21.vcf.gz").exists()
    # The server publishes a new version of the file (and its checksum).
    from synthvcf import write_vcf
    write_vcf(site / CHR21[1:], 2500, seed=999, chrom="21")
    new = (site / CHR21[1:]).read_bytes()
    s = sumcheck.file_sum(site / CHR21[1:])
    sums = site / "homo_sapiens" / "CHECKSUMS"
    entry = f"{s.checksum:05d}\t{s.blocks}\thomo_sapiens-chr21.vcf.gz"
    sums.write_text("\n".join(entry if line.endswith("\thomo_sapiens-chr21.vcf.gz") else line
                              for line in sums.read_text().splitlines()) + "\n")
    second = make("refresh", "download", cache=cache, server=server)
    assert second.returncode == 0, output(second)
    last = gets(server, CHR21)[-1]
    assert last["range"] == "bytes=5000-" and last["if_range"]
    assert (vcf_dir(cache) / "homo_sapiens-chr21.vcf.gz").read_bytes() == new
    assert not part.exists()
    # The new CHECKSUMS made Make re-check the other files: they still match, no download.
    assert {r["path"] for r in server.log if r["path"].endswith(".vcf.gz")} == {CHR21} | {
        f"/homo_sapiens/{n}" for n in HUMAN}
    assert all(len(gets(server, f"/homo_sapiens/{n}")) == 1 for n in HUMAN if "chr21" not in n)


def test_corrupted_once_is_fetched_again(server, site, cache):
    server.add_fault(CHR21, "corrupt", offset=777)
    result = make("download", cache=cache, server=server)
    assert result.returncode == 0, output(result)
    assert "checksum mismatch" in output(result)
    assert len(gets(server, CHR21)) == 2
    assert (vcf_dir(cache) / "homo_sapiens-chr21.vcf.gz").read_bytes() == (site / CHR21[1:]).read_bytes()


def test_always_corrupted_fails_with_expected_and_actual(server, site, cache):
    server.add_fault(CHR21, "corrupt", offset=777, times=None)
    result = make("download", cache=cache, server=server)
    assert result.returncode != 0
    expected = sumcheck.file_sum(site / CHR21[1:])
    text = output(result)
    assert "homo_sapiens-chr21.vcf.gz: checksum mismatch" in text and f"expected {expected}" in text
    assert "got " in text
    assert len(gets(server, CHR21)) == 3
    left = [p.name for p in vcf_dir(cache).iterdir() if "chr21" in p.name]
    assert left == []


def test_404_fails_fast_naming_url_and_status(server, cache):
    server.add_fault(CHR21, "status", status=404, times=None)
    result = make("download", cache=cache, server=server)
    assert result.returncode != 0
    assert f"{server.url}{CHR21}: HTTP 404" in output(result)
    assert len(gets(server, CHR21)) == 1
    assert not (vcf_dir(cache) / "homo_sapiens-chr21.vcf.gz").exists()


def test_503_then_ok_honours_retry_after(server, site, cache):
    server.add_fault(CHR21, "status", status=503, times=2, retry_after="1")
    server.add_fault("/homo_sapiens/homo_sapiens-chrX.vcf.gz", "status", status=429, times=1)
    result = make("download", cache=cache, server=server)
    assert result.returncode == 0, output(result)
    assert len(gets(server, CHR21)) == 3
    assert "HTTP 503" in output(result) and "in 1.0 s" in output(result)
    assert result.seconds >= 2.0
    assert (vcf_dir(cache) / "homo_sapiens-chr21.vcf.gz").read_bytes() == (site / CHR21[1:]).read_bytes()


def test_503_forever_gives_up_after_retries(server, cache):
    server.add_fault(CHR21, "status", status=503, times=None)
    result = make("download", "RETRIES=3", cache=cache, server=server)
    assert result.returncode != 0
    assert "giving up after 3 retries" in output(result)
    assert len(gets(server, CHR21)) == 4


def test_stalled_response_times_out_and_resumes(server, site, cache):
    server.add_fault(CHR21, "stall", after=3_000, seconds=8)
    result = make("download", "READ_TIMEOUT=1", cache=cache, server=server)
    assert result.returncode == 0, output(result)
    assert [r["range"] for r in gets(server, CHR21)] == [None, "bytes=3000-"]
    assert (vcf_dir(cache) / "homo_sapiens-chr21.vcf.gz").read_bytes() == (site / CHR21[1:]).read_bytes()


def test_missing_checksums_warns_once_and_checks_size(server, site, cache):
    (site / "homo_sapiens" / "CHECKSUMS").unlink()
    result = make("-j4", "download", cache=cache, server=server)
    assert result.returncode == 0, output(result)
    assert output(result).count("CHECKSUMS not found") == 1
    assert sorted(p.name for p in vcf_dir(cache).iterdir()) == HUMAN


def test_verify_removes_corrupted_and_download_refetches_only_those(server, site, cache):
    assert make("download", cache=cache, server=server).returncode == 0
    bad = vcf_dir(cache) / "homo_sapiens-chrX.vcf.gz"
    data = bytearray(bad.read_bytes())
    data[100] ^= 0x01
    bad.write_bytes(bytes(data))
    result = make("verify", cache=cache)
    assert result.returncode != 0
    assert "homo_sapiens-chrX.vcf.gz: checksum mismatch" in output(result) and "removed" in output(result)
    assert not bad.exists() and len(list(vcf_dir(cache).iterdir())) == 3
    before = len(server.log)
    assert make("download", cache=cache, server=server).returncode == 0
    assert [r["path"] for r in server.log[before:]] == ["/homo_sapiens/homo_sapiens-chrX.vcf.gz"]
    assert make("verify", cache=cache).returncode == 0


def test_two_makes_at_once_do_not_share_a_part_file(server, site, cache):
    import threading

    assert make("refresh", cache=cache, server=server).returncode == 0
    server.add_fault(CHR21, "stall", after=5_000, seconds=2)
    results = []
    threads = [threading.Thread(target=lambda: results.append(make("download", cache=cache, server=server)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r.returncode == 0 for r in results), [output(r) for r in results]
    assert "completed by another process" in "".join(output(r) for r in results)
    assert (vcf_dir(cache) / "homo_sapiens-chr21.vcf.gz").read_bytes() == (site / CHR21[1:]).read_bytes()
    assert len(gets(server, CHR21)) == 2  # the first request (stalled) and one resume, nothing more


def test_checksums_change_rechecks_only_the_changed_files(server, site, cache):
    assert make("download", cache=cache, server=server).returncode == 0
    sums = site / "homo_sapiens" / "CHECKSUMS"
    sums.write_text(sums.read_text().replace("\tREADME", "\tREADME.txt"))  # a line of no VCF changed
    before = len(server.log)
    result = make("refresh", "download", cache=cache, server=server)
    assert result.returncode == 0, output(result)
    assert "fetch.py" not in output(result)  # no re-check, no touch, nothing downstream redone
    assert not [r for r in server.log[before:] if r["path"].endswith(".vcf.gz")]


def test_changing_base_url_discovers_again(site, cache):
    with mirror.MirrorServer(site) as first, mirror.MirrorServer(site) as second:
        assert make("download", cache=cache, server=first).returncode == 0
        result = make("download", cache=cache, server=second)
        assert result.returncode == 0, output(result)
        assert [r["path"] for r in second.log] == ["/homo_sapiens/", "/homo_sapiens/CHECKSUMS"]
        urls = json.loads((cache / "ensembl" / "homo_sapiens" / "vcf_urls.json").read_text())
        assert all(u.startswith(second.url) for u in urls)  # same files, same checksums: nothing fetched


def test_force_download_from_config_file(server, cache, tmp_path):
    assert make("download", cache=cache, server=server).returncode == 0
    config = tmp_path / "config.toml"
    config.write_text("force_download = true\n")
    before = len(server.log)
    assert make("download", cache=cache, server=server, PA_CONFIG=str(config)).returncode == 0
    assert sorted(r["path"].rsplit("/", 1)[1] for r in server.log[before:]) == HUMAN


def test_force_redoes_each_stage_once(server, cache):
    assert make("download", "parquet", cache=cache, server=server).returncode == 0
    before = len(server.log)
    result = make("download", "parquet", "FORCE=1", cache=cache, server=server)
    assert result.returncode == 0, output(result)
    assert sorted(r["path"].rsplit("/", 1)[1] for r in server.log[before:]) == HUMAN  # once each
    assert output(result).count("scripts/vcf2parquet.py") == 4


def test_resume_of_a_different_version_is_refused(server, site, tmp_path):
    """A server that ignores If-Range must not get two versions spliced together."""
    import fetch

    cfg = {"retries": 3, "retry_backoff": 0.01, "connect_timeout": 5, "read_timeout": 5}
    dest = tmp_path / "out.vcf.gz"
    server.add_fault(CHR21, "cut", after=5_000)
    with pytest.raises(common.Failure):
        fetch.fetch_url(server.url + CHR21, dest, {**cfg, "retries": 0})
    assert (tmp_path / "out.vcf.gz.part").stat().st_size == 5_000
    from synthvcf import write_vcf
    write_vcf(site / CHR21[1:], 2500, seed=999, chrom="21")  # a new version, no CHECKSUMS to catch it
    server.add_fault(CHR21, "ignore_if_range", times=None)
    fetch.fetch_url(server.url + CHR21, dest, cfg)
    assert dest.read_bytes() == (site / CHR21[1:]).read_bytes()
    assert gets(server, CHR21)[1]["range"] == "bytes=5000-"


@pytest.mark.parametrize("status, retried", [(403, False), (410, False), (408, True), (500, True)])
def test_status_classification(server, tmp_path, status, retried):
    import fetch

    cfg = {"retries": 2, "retry_backoff": 0.01, "connect_timeout": 5, "read_timeout": 5}
    server.add_fault(CHR21, "status", status=status, times=None)
    with pytest.raises(common.Failure, match=f"HTTP {status}"):
        fetch.fetch_url(server.url + CHR21, tmp_path / "x", cfg)
    assert len(gets(server, CHR21)) == (3 if retried else 1)
    assert not (tmp_path / "x").exists()


def test_not_http_url_fails_without_retries(tmp_path):
    import fetch

    cfg = {"retries": 5, "retry_backoff": 5, "connect_timeout": 5, "read_timeout": 5}
    for url in ("ftp.ensembl.org/pub/x.vcf.gz", "ftp://ftp.ensembl.org/pub/x.vcf.gz"):
        with pytest.raises(common.Failure, match="not an http"):
            fetch.fetch_url(url, tmp_path / "x", cfg)


def test_force_downloads_again(server, cache):
    assert make("download", cache=cache, server=server).returncode == 0
    before = len(server.log)
    assert make("download", "FORCE=1", cache=cache, server=server).returncode == 0
    assert sorted(r["path"].rsplit("/", 1)[1] for r in server.log[before:]) == HUMAN

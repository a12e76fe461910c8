"""VCF -> Parquet: every column against an independent plain-text reading of the same
VCF, the Ensembl quirks, bad input, metadata, and real `make parquet` runs."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pysam
import pytest

import common
import mirror
import sumcheck
import synthvcf
import vcf2parquet
from helpers import make, output

SCRIPT = Path(vcf2parquet.__file__)
FIXED = ["chrom", "start", "end", "id", "ref", "alt", "alts", "qual", "filter"]


# --------------------------------------------------------------- the independent reading

def f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def read_text_vcf(path: Path) -> tuple[list[tuple[str, str, str]], list[dict]]:
    """(INFO definitions in header order, one dict per record) read with plain Python,
    following the contract in DESIGN.md."""
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt") as fh:
        lines = fh.read().splitlines()
    info = []
    for line in lines:
        if line.startswith("##INFO=<"):
            fields = dict(kv.split("=", 1) for kv in line[8:].split(",")[:3])
            info.append((fields["ID"], fields["Number"], fields["Type"]))
    kinds = {i: (n, t) for i, n, t in info}
    rows = []
    for line in lines:
        if line.startswith("#") or not line:
            continue
        chrom, pos, ident, ref, alt, qual, filt, inf = line.split("\t")[:8]
        alts = [] if alt == "." else alt.split(",")
        row = {"chrom": chrom, "start": int(pos), "end": int(pos) + len(ref) - 1,
               "id": "" if ident == "." else ident, "ref": ref, "alt": "|".join(alts), "alts": alts,
               "qual": None if qual == "." else float(qual), "filter": "" if filt == "." else filt}
        given = {}
        for item in inf.split(";"):
            if item and item != ".":
                key, _, value = item.partition("=")
                given[key] = value
        for key, (number, typ) in kinds.items():
            if typ == "Flag":
                row[key] = key in given
                continue
            value = given.get(key)
            conv = {"Integer": int, "Float": lambda v: f32(float(v))}.get(typ, str)
            if value is None or value == ".":
                row[key] = None
            elif number in ("0", "1"):
                row[key] = conv(value)
            else:
                row[key] = [None if v == "." else conv(v) for v in value.split(",")]
        rows.append(row)
    return info, rows


def expected_dtypes(info) -> dict:
    base = {"Integer": pl.Int32, "Float": pl.Float32, "String": pl.String, "Flag": pl.Boolean}
    out = {"chrom": pl.String, "start": pl.UInt32, "end": pl.UInt32, "id": pl.String, "ref": pl.String,
           "alt": pl.String, "alts": pl.List(pl.String), "qual": pl.Float64, "filter": pl.String}
    for ident, number, typ in info:
        out[ident] = base[typ] if number in ("0", "1") or typ == "Flag" else pl.List(base[typ])
    return out


def assert_matches_text(parquet: Path, vcf: Path) -> pl.DataFrame:
    info, rows = read_text_vcf(vcf)
    df = pl.read_parquet(parquet)
    assert df.schema == pl.Schema(expected_dtypes(info))  # names, order and types
    assert df.height == len(rows)
    got = df.to_dicts()
    for n, (want, have) in enumerate(zip(rows, got)):
        assert have == want, f"record {n + 1} differs"
    return df


# --------------------------------------------------------------- fixtures

QUIRKS_HEADER = """##fileformat=VCFv4.1
##INFO=<ID=TSA,Number=1,Type=String,Description="Type of sequence alteration">
##source=ensembl;version=113;url=https://e113.ensembl.org/homo_sapiens
##INFO=<ID=HGMD-PUBLIC_20204,Number=0,Type=Flag,Description="Variants from HGMD-PUBLIC dataset December 2020">
##INFO=<ID=dbSNP_156,Number=0,Type=Flag,Description="Variants (including SNPs and indels) imported from dbSNP">
##fileDate=20241015
##INFO=<ID=COSMIC_100,Number=0,Type=Flag,Description="Somatic variants from COSMIC">
##INFO=<ID=ClinVar_202409,Number=0,Type=Flag,Description="ClinVar">
##INFO=<ID=E_gnomAD,Number=0,Type=Flag,Description="gnomAD">
##reference=ftp://ftp.ensembl.org/pub/release-113/fasta/homo_sapiens/dna/
##INFO=<ID=MAF,Number=1,Type=Float,Description="Minor Allele Frequency">
##INFO=<ID=MAC,Number=1,Type=Integer,Description="Minor Alellele Count">
##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequencies">
##INFO=<ID=CNT,Number=.,Type=Integer,Description="Counts">
##INFO=<ID=SRC,Number=.,Type=String,Description="Sources">
##INFO=<ID=AA,Number=1,Type=String,Description="Ancestral Allele">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
"""
QUIRKS_RECORDS = [
    "1\t2491309\trs368445617\tT\tA,C\t.\t.\tdbSNP_156;TSA=SNV;E_gnomAD;;AA=T;AF=0.25,0.5",
    "1\t2491310\trs1\tN\t<INS>\t50\tPASS\tHGMD-PUBLIC_20204;TSA=insertion;SRC=a,b",
    "1\t2491311\t.\tAC\tA\t.\tq10;s50\tCOSMIC_100;ClinVar_202409;MAF=0.01234;MAC=12",
    "1\t2491312\trs2\tA\t.\t.\t.\t.",
    "1\t2491313\trs3\tG\tT,C,A\t12.5\t.\tdbSNP_156;;;CNT=1,2,3;AF=.;MAC=.",
    "1\t2147483648\trs4\tC\tT\t.\t.\tdbSNP_156;TSA=SNV",
    "1\t3000000000\trs5\tCTTT\tC\t.\t.\tTSA=deletion;AA=.",
    "2\t4294967295\trs6\tG\tGA\t.\t.\tTSA=;E_gnomAD",
]


def write_quirks(path: Path, records=QUIRKS_RECORDS, bgzip: bool = True, final_newline: bool = False) -> Path:
    text = QUIRKS_HEADER + "\n".join(records) + ("\n" if final_newline else "")
    if bgzip:
        with pysam.BGZFile(str(path), "wb") as fh:
            fh.write(text.encode())
    else:
        path.write_text(text)
    return path


def convert(vcf: Path, tmp_path: Path, **kw) -> Path:
    out = tmp_path / "out" / (vcf.name.split(".")[0] + ".parquet")
    vcf2parquet.convert(vcf, out, **kw)
    return out


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --------------------------------------------------------------- conversion

def test_quirks_every_column_matches_the_text(tmp_path):
    vcf = write_quirks(tmp_path / "quirks.vcf.gz")
    df = assert_matches_text(convert(vcf, tmp_path), vcf)
    # header order is kept for the INFO columns, the fixed ones first, alts after alt
    assert df.columns[:9] == FIXED
    assert df.columns[9:] == ["TSA", "HGMD-PUBLIC_20204", "dbSNP_156", "COSMIC_100", "ClinVar_202409",
                              "E_gnomAD", "MAF", "MAC", "AF", "CNT", "SRC", "AA"]
    assert df["start"].to_list()[-3:] == [2147483648, 3000000000, 4294967295]
    assert df.filter(pl.col("id") == "rs3")["alts"].item().to_list() == ["T", "C", "A"]


def test_plain_text_with_final_newline(tmp_path):
    vcf = write_quirks(tmp_path / "quirks.vcf", bgzip=False, final_newline=True)
    assert_matches_text(convert(vcf, tmp_path), vcf)


def test_many_pieces_keep_file_order(tmp_path):
    vcf = synthvcf.write_vcf(tmp_path / "homo_sapiens-chr19.vcf.gz", 6000, seed=7, chrom="19",
                             start_pos=44_900_000,
                             extra_records=[("19", 44908822, "rs7412", "C", "T", "dbSNP_156;TSA=SNV")])
    out = convert(vcf, tmp_path, threads=2, piece_bytes=16 << 10)  # ~35 pieces
    df = assert_matches_text(out, vcf)
    assert df["start"].is_sorted()
    assert df.filter(pl.col("id") == "rs7412").select("start", "ref", "alts").row(0) == (44908822, "C", ["T"])
    # synthetic Ensembl shape: multi-allelic records are kept as one row each
    assert df.filter(pl.col("alts").list.len() > 1).height > 0


def test_header_only_gives_an_empty_file_with_the_full_schema(tmp_path):
    vcf = write_quirks(tmp_path / "empty.vcf.gz", records=[])
    out = convert(vcf, tmp_path)
    info, rows = read_text_vcf(vcf)
    df = pl.read_parquet(out)
    assert rows == [] and df.height == 0
    assert df.schema == pl.Schema(expected_dtypes(info))


def test_metadata_release_date_source_checksum_tool(tmp_path):
    species = tmp_path / "ensembl" / "homo_sapiens"
    vcf = synthvcf.write_vcf(species / "vcf" / "homo_sapiens-chr21.vcf.gz", 50, seed=3, chrom="21",
                             release=112, file_date="20240601")
    listed = sumcheck.python_sum(vcf)  # (pure-Python BSD sum as the oracle)
    (species / "CHECKSUMS").write_text(f"01234\t7\tother.vcf.gz\n{listed.checksum}\t{listed.blocks}\t"
                                       "homo_sapiens-chr21.vcf.gz\n")
    out = species / "homo_sapiens-chr21.parquet"
    vcf2parquet.convert(vcf, out)
    meta = pq.ParquetFile(out).metadata.metadata
    assert meta[b"ensembl_release"] == b"112"
    assert meta[b"vcf_file_date"] == b"20240601"
    assert meta[b"source_file"] == b"homo_sapiens-chr21.vcf.gz"
    assert meta[b"source_checksum"] == str(listed).encode()  # the checksum of the file converted
    assert meta[b"tool"].startswith(b"prepare-annotations ")
    assert b"polars-bio" in meta[b"tool"]


def test_an_index_beside_the_vcf_does_not_matter(tmp_path):
    vcf = synthvcf.write_vcf(tmp_path / "v" / "homo_sapiens-chr21.vcf.gz", 300, seed=5, chrom="21")
    pysam.tabix_index(str(vcf), preset="vcf", csi=True)  # Ensembl publishes .csi indexes
    (vcf.parent / (vcf.name + ".tbi")).write_bytes(b"not a real index")
    assert_matches_text(convert(vcf, tmp_path), vcf)


# --------------------------------------------------------------- bad input

def good_lines(n: int = 40) -> list[str]:
    return [f"1\t{1000 + i}\trs{i}\tA\tG\t.\t.\tdbSNP_156;TSA=SNV" for i in range(n)]


def header_lines() -> int:
    return QUIRKS_HEADER.count("\n")


BAD = {
    "too few columns": (lambda g: g[:30] + ["1\t1029\trs9\tA\tG\t."] + g[30:], r"line {n}: 6 columns, the header has 8"),
    # polars-bio itself reads this line without complaint (as FORMAT + one sample)
    "too many columns": (lambda g: g[:30] + ["1\t1029\trs9\tA\tG\t.\t.\tTSA=SNV\tGT\t0|1"] + g[30:],
                         r"line {n}: 10 columns, the header has 8"),
    "non-numeric POS": (lambda g: g[:30] + ["1\t12a4\trs9\tA\tG\t.\t.\tTSA=SNV"] + g[30:], r"line {n}: POS '12a4' is not a number"),
    "duplicate INFO key": (lambda g: g[:30] + ["1\t1029\trs9\tA\tG\t.\t.\tdbSNP_156;dbSNP_156"] + g[30:],
                           r"line {n}: INFO key 'dbSNP_156' appears twice"),
    "non-numeric INFO Integer": (lambda g: g[:30] + ["1\t1029\trs9\tA\tG\t.\t.\tMAC=many"] + g[30:],
                                 r"line {n}: INFO MAC='many' is not of type Integer"),
    "POS beyond UInt32": (lambda g: g[:30] + ["1\t5000000000\trs9\tA\tG\t.\t.\tTSA=SNV"] + g[30:],
                          r"line {n}: POS 5000000000 is outside 1..4294967295"),
}


def test_pos_beyond_uint32_as_the_last_record_is_refused(tmp_path):
    """Wrapped around, 4294969296 would become 2000: larger than the line before it."""
    lines = good_lines(10) + ["1\t4294969296\trs99\tA\tG\t.\t.\tTSA=SNV"]
    vcf = write_quirks(tmp_path / "last.vcf.gz", records=lines)
    with pytest.raises(common.Failure, match=rf"line {header_lines() + 11}: POS 4294969296 is outside"):
        convert(vcf, tmp_path)
    assert leftovers(tmp_path / "out") == []


def test_info_attributes_in_any_order(tmp_path):
    text = (QUIRKS_HEADER.replace("#CHROM", '##INFO=<ID=XO,Type=Integer,Number=1,Description="order">\n#CHROM')
            + "1\t1000\trs1\tA\tG\t.\t.\tXO=7;TSA=SNV\n")
    vcf = tmp_path / "order.vcf"
    vcf.write_text(text)
    df = pl.read_parquet(convert(vcf, tmp_path))
    assert df.schema["XO"] == pl.Int32 and df["XO"].to_list() == [7]


def test_sigterm_mid_conversion_leaves_nothing(tmp_path):
    import signal
    import time

    vcf = synthvcf.write_vcf(tmp_path / "big.vcf.gz", 300_000, seed=5, chrom="2")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen([sys.executable, str(common.ROOT / "scripts" / "vcf2parquet.py"), str(vcf),
                             str(out_dir / "big.parquet"), "--piece-mib", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".pieces") for p in out_dir.iterdir()):
        assert proc.poll() is None and time.monotonic() < deadline, "conversion ended before the signal"
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert [p.name for p in out_dir.iterdir() if p.name != "steps.jsonl"] == []
    steps = (out_dir / "steps.jsonl").read_text()
    assert '"outcome": "interrupted"' in steps


def test_header_rejected_by_polars_bio_names_the_file(tmp_path):
    text = QUIRKS_HEADER.replace("#CHROM", '##INFO=<ID=BAD,Number=1,Type=Nonsense,Description="x">\n#CHROM')
    vcf = tmp_path / "hdr.vcf"
    vcf.write_text(text + "1\t1000\trs1\tA\tG\t.\t.\tTSA=SNV\n")
    with pytest.raises(common.Failure, match=rf"{vcf}: header rejected by polars-bio"):
        convert(vcf, tmp_path)
    assert leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_record_names_file_and_line_and_leaves_nothing(tmp_path, case):
    make_lines, pattern = BAD[case]
    vcf = write_quirks(tmp_path / "bad.vcf.gz", records=make_lines(good_lines()))
    out_dir = tmp_path / "out"
    with pytest.raises(common.Failure) as err:
        convert(vcf, tmp_path, piece_bytes=1024)  # the bad line sits in a later piece
    message = str(err.value)
    assert str(vcf) in message
    assert pattern.format(n=header_lines() + 31) in message
    assert leftovers(out_dir) == []  # no Parquet, no temporary file, no pieces


def test_truncated_gzip(tmp_path):
    full = synthvcf.write_vcf(tmp_path / "full.vcf.gz", 20000, seed=1)
    data = full.read_bytes()
    cut = tmp_path / "cut.vcf.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(common.Failure, match=r"cut\.vcf\.gz: truncated"):
        convert(cut, tmp_path)
    # a gzip (not bgzip) file cut short is caught while decompressing
    plain = tmp_path / "plain.vcf.gz"
    plain.write_bytes(gzip.compress(gzip.decompress(data))[: len(data) // 2])
    with pytest.raises(common.Failure, match=r"plain\.vcf\.gz: cannot decompress .* truncated or corrupt"):
        convert(plain, tmp_path)
    assert leftovers(tmp_path / "out") == []


@pytest.mark.parametrize("content", [b"<html><body>404 Not Found</body></html>\n",
                                     bytes(range(256)) * 40,
                                     b"##fileformat=VCFv4.1\n##INFO=<ID=A,Number=1,Type=String>\n1\t2\t3\n"])
def test_not_a_vcf(tmp_path, content):
    vcf = tmp_path / "x.vcf.gz"
    with pysam.BGZFile(str(vcf), "wb") as fh:
        fh.write(content)
    with pytest.raises(common.Failure, match=r"x\.vcf\.gz: not a VCF"):
        convert(vcf, tmp_path)
    assert leftovers(tmp_path / "out") == []


def test_cli_exit_codes_and_one_line_summary(tmp_path):
    vcf = write_quirks(tmp_path / "ok.vcf.gz")
    out = tmp_path / "o" / "ok.parquet"
    env = {**os.environ, "CACHE_DIR": str(tmp_path / "cache")}
    ok = subprocess.run([sys.executable, SCRIPT, vcf, out], capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert f"ok.vcf.gz -> ok.parquet: {len(QUIRKS_RECORDS)} rows" in ok.stderr
    step = json.loads((out.parent / "steps.jsonl").read_text().splitlines()[-1])
    assert step["step"] == "vcf2parquet" and step["outcome"] == "ok"
    assert step["rows"] == len(QUIRKS_RECORDS) and step["bytes"] == out.stat().st_size
    assert step["peak_rss_bytes"] > 50 << 20
    bad = tmp_path / "bad.vcf.gz"
    bad.write_bytes(b"hello\n")
    fail = subprocess.run([sys.executable, SCRIPT, bad, tmp_path / "o" / "bad.parquet"],
                          capture_output=True, text=True, env=env)
    assert fail.returncode == 1
    assert "bad.vcf.gz: not a VCF" in fail.stderr and "Traceback" not in fail.stderr
    assert not (tmp_path / "o" / "bad.parquet").exists()
    assert json.loads((out.parent / "steps.jsonl").read_text().splitlines()[-1])["outcome"] == "failed"
    usage = subprocess.run([sys.executable, SCRIPT, "--threads", "x", bad], capture_output=True, text=True, env=env)
    assert usage.returncode == 2


# --------------------------------------------------------------- make parquet

@pytest.fixture(scope="module")
def served_mirror(mirror_site):
    with mirror.MirrorServer(mirror_site) as server:
        yield mirror_site, server


def test_make_parquet_noop_and_force(served_mirror, tmp_path):
    site, server = served_mirror
    cache = tmp_path / "cache"
    first = make("parquet", cache=cache, server=server)
    assert first.returncode == 0, output(first)
    species = cache / "ensembl" / "homo_sapiens"
    names = ["homo_sapiens-chr19", "homo_sapiens-chr21", "homo_sapiens-chrMT", "homo_sapiens-chrX"]
    assert sorted(p.stem for p in species.glob("*.parquet")) == names
    assert not [p for p in species.iterdir() if p.name.startswith(".")]  # no temporaries left
    for name in names:
        assert_matches_text(species / f"{name}.parquet", species / "vcf" / f"{name}.vcf.gz")
    steps = [json.loads(line) for line in (species / "steps.jsonl").read_text().splitlines()]
    conversions = [s for s in steps if s["step"] == "vcf2parquet"]
    assert len(conversions) == 4 and all(s["outcome"] == "ok" and s["rows"] > 0 for s in conversions)
    mtimes = {p.name: p.stat().st_mtime_ns for p in species.glob("*.parquet")}

    again = make("parquet", cache=cache, server=server)
    assert again.returncode == 0 and "vcf2parquet" not in output(again), output(again)
    assert {p.name: p.stat().st_mtime_ns for p in species.glob("*.parquet")} == mtimes

    # a VCF newer than its Parquet is converted again, and only that one
    os.utime(species / "vcf" / "homo_sapiens-chrMT.vcf.gz")
    one = make("parquet", cache=cache, server=server)
    assert one.returncode == 0 and output(one).count("scripts/vcf2parquet.py") == 1, output(one)

    before = len(server.log)
    forced = make("parquet", "FORCE=1", cache=cache, server=server)
    assert forced.returncode == 0, output(forced)
    assert output(forced).count("scripts/vcf2parquet.py") == 4
    assert "fetch.py" not in output(forced) and len(server.log) == before  # converts, never re-downloads
    assert all(p.stat().st_mtime_ns != mtimes[p.name] for p in species.glob("*.parquet"))


def test_make_parquet_failure_leaves_no_parquet(served_mirror, tmp_path):
    site, server = served_mirror
    cache = tmp_path / "cache"
    assert make("download", cache=cache, server=server).returncode == 0
    vdir = cache / "ensembl" / "homo_sapiens" / "vcf"
    broken = vdir / "homo_sapiens-chrX.vcf.gz"
    broken.write_bytes(broken.read_bytes()[:-200])  # cut: the bgzip end-of-file block is gone
    shutil.copystat(vdir / "homo_sapiens-chr21.vcf.gz", broken)  # not newer than the listing
    result = make("parquet", cache=cache, server=server)
    assert result.returncode != 0
    assert "homo_sapiens-chrX.vcf.gz: truncated" in output(result)
    species = cache / "ensembl" / "homo_sapiens"
    assert not (species / "homo_sapiens-chrX.parquet").exists()
    assert not [p for p in species.iterdir() if p.name.startswith(".")]


REFUSALS = """
import sys, time
from pathlib import Path
sys.path.insert(0, {scripts!r})
import common, vcf2parquet
vcf, base, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    try:
        vcf2parquet.convert(vcf, base / str(i) / "bad.parquet", threads=2, piece_bytes=1024)
    except common.Failure:
        continue
    sys.exit("converted a bad file")
"""


def test_refusals_under_parallel_load_leave_nothing(tmp_path):
    """Many refused conversions at once (4 processes, each converting a file whose first
    piece is bad again and again, as `make -j4 parquet` on a busy machine would): not one
    may leave its temporary Parquet behind, not even a moment after the refusal. Before
    the fix, polars' streaming sink, torn down by the error raised in our source, finished
    writing an empty Parquet under the temporary name after convert() had removed it."""
    lines = good_lines()
    vcf = write_quirks(tmp_path / "bad.vcf.gz", records=lines[:2] + ["1\t1029\trs9\tA\tG\t."] + lines[2:])
    code = REFUSALS.format(scripts=str(common.ROOT / "scripts"))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(vcf), str(tmp_path / f"p{k}"), "40"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for k in range(4)]
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("p*/*/*"))
    assert left == [], f"{len(left)} of 160 refused conversions left files behind: {left[:5]}"


# --------------------------------------------------------------- VCFs outside the Ensembl contract

FOREIGN_HEADER = """##fileformat=VCFv{version}
##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">
##INFO=<ID=CH,Number=1,Type=Character,Description="One character">
##INFO=<ID=CL,Number=.,Type=Character,Description="Characters">
##INFO=<ID=HGVSp,Number=1,Type=String,Description="Protein change (VEP writes '=' as %3D)">
##INFO=<ID=END,Number=1,Type=Integer,Description="End of a symbolic allele">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Likelihoods">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3
"""
FOREIGN_RECORDS = [
    "1\t100\trs1\tA\tG\t29.1\tPASS\tDP=5;CH=x;CL=a,b;HGVSp=p.Leu2%3D\tGT:PL\t0/1:1,2,3\t1/1:4,5,6\t./.",
    "1\t200\trs2\tN\t<DEL>\t0.1\t.\tDP=3;END=500;HGVSp=100%25%ZZ%\tGT\t0/0\t./.\t0/1",
    "1\t300\t.\tAC\tA\t.\t.\t.\tGT\t0/0\t0/1\t1/1",
]


def write_foreign(path: Path, version: str = "4.2", samples: bool = True, character: bool = True) -> Path:
    """The foreign VCF, with its sample columns or as a sites-only file, with its
    Type=Character INFO fields or with them declared as String."""
    header = FOREIGN_HEADER.format(version=version)
    header = header if character else header.replace("Type=Character", "Type=String")
    lines = (header + "\n".join(FOREIGN_RECORDS)).splitlines()
    if not samples:
        lines = ["\t".join(line.split("\t")[:8]) for line in lines if not line.startswith("##FORMAT")]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_samples_are_left_out_and_counted(tmp_path):
    """A VCF with FORMAT and sample columns: the sites are converted, the samples are
    not (said in the summary line, the step log and the footer's samples_dropped)."""
    vcf = write_foreign(tmp_path / "cohort.vcf")
    out = tmp_path / "o" / "cohort.parquet"
    env = {**os.environ, "CACHE_DIR": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, SCRIPT, vcf, out], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "cohort.vcf -> cohort.parquet: 3 rows" in run.stderr
    assert "3 sample columns not converted (sites only)" in run.stderr
    df = pl.read_parquet(out)
    assert df.columns == FIXED + ["DP", "CH", "CL", "HGVSp", "END"]  # no FORMAT/genotype column
    assert df["id"].to_list() == ["rs1", "rs2", ""] and df["DP"].to_list() == [5, 3, None]
    assert pq.read_metadata(out).metadata[b"samples_dropped"] == b"3"
    step = json.loads((out.parent / "steps.jsonl").read_text().splitlines()[-1])
    assert step["samples_dropped"] == 3 and step["outcome"] == "ok"


def test_ensembl_shaped_file_has_no_samples_key(tmp_path):
    out = convert(write_quirks(tmp_path / "q.vcf.gz"), tmp_path)
    assert b"samples_dropped" not in pq.read_metadata(out).metadata


def test_character_info_is_a_string(tmp_path):
    df = pl.read_parquet(convert(write_foreign(tmp_path / "ch.vcf", samples=False), tmp_path))
    assert df.schema["CH"] == pl.String and df.schema["CL"] == pl.List(pl.String)
    assert df["CH"].to_list() == ["x", None, None]
    assert df["CL"].to_list() == [["a", "b"], None, None]


@pytest.mark.parametrize("version, hgvs", [
    ("4.1", ["p.Leu2%3D", "100%25%ZZ%"]),  # before 4.3 a '%' is text: kept as written
    ("4.2", ["p.Leu2%3D", "100%25%ZZ%"]),
    ("4.3", ["p.Leu2=", "100%%ZZ%"]),        # 4.3 defines %XX escapes: decoded (a bad one is kept)
])
def test_percent_in_info_values_by_vcf_version(tmp_path, version, hgvs):
    df = pl.read_parquet(convert(write_foreign(tmp_path / f"v{version}.vcf", version, samples=False, character=False), tmp_path))
    assert df["HGVSp"].to_list() == [*hgvs, None]
    assert df["id"].to_list() == ["rs1", "rs2", ""]


def test_end_from_info_end_and_qual_as_written(tmp_path):
    df = pl.read_parquet(convert(write_foreign(tmp_path / "e.vcf", samples=False, character=False), tmp_path))
    # END given (the <DEL>): end = END; else POS + len(REF) - 1
    assert df["end"].to_list() == [100, 500, 301]
    # QUAL as the decimal written in the file, not its 32-bit float (29.100000381469727)
    assert df["qual"].to_list() == [29.1, 0.1, None]

"""Convert one Ensembl variation VCF into one Parquet file in the consumer's schema.

  python scripts/vcf2parquet.py VCF [OUT] [--threads N]

OUT defaults to <cache>/ensembl/<species>/<stem>.parquet (homo_sapiens-chr21.vcf.gz ->
homo_sapiens-chr21.parquet). Columns: chrom, start (UInt32, = POS), end, id, ref, alt
(ALT alleles joined by "|"), alts (List[String]), qual, filter, then every INFO field
of the header under its own ID (Flag -> Boolean, Integer -> Int32, Float -> Float32,
String and Character -> String; Number other than 0/1 -> List). One row per record, in
file order. Sample columns (FORMAT, genotypes) are not converted (samples_dropped: N in
the footer); before VCFv4.3 a '%' in an INFO value is kept as text (README: "Values as
they come out").

How: the decompressed text is cut at line ends into pieces of about 8 MiB; polars-bio
(scan_vcf, all header INFO fields) parses up to --threads pieces at once, each piece
a small VCF file (the original header + its lines) in a temporary directory; the parsed
pieces are handed in order to one LazyFrame.sink_parquet(engine="streaming"), zstd.
Only a few pieces are in memory at a time, so memory stays flat however big the file
is, and the output is the same, row for row, as a single polars-bio scan. polars-bio
never opens the original path, so an index (.csi, .tbi) beside it does not matter.
The Parquet is written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import collections
import functools
import os
import re
import shutil
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import typer

import common
import sumcheck

PIECE_BYTES = 8 << 20          # decompressed text per piece handed to polars-bio
READ_BYTES = 1 << 20           # one read from the decompressor
MAX_HEADER_BYTES = 64 << 20    # no "#CHROM" line within this: not a VCF
BATCH_ROWS = 65536             # DataFusion batch size (its default, 8192: ~20% slower here)
UINT32_MAX = 2**32 - 1
FIXED = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
# BGZF end-of-file marker: an empty block every complete bgzip file ends with.
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
# A POS of 10 digits or more (a line start, CHROM, a tab, 10 digits); the form with a
# leading newline lets the regex engine scan for it fast (~1 ms per MiB, not 4).
LONG_POS = re.compile(rb"\n[^\t\n]*\t\d{10}")
LONG_POS_FIRST = re.compile(rb"[^\t\n]*\t\d{10}")
INFO_ATTR = re.compile(r'(ID|Number|Type)=([^,>]+)')


# --- the header -------------------------------------------------------------------------

@dataclass
class Header:
    raw: bytes                                # every header line, "#CHROM" line included
    lines: int                                # number of header lines
    columns: int                              # columns of the "#CHROM" line
    info: list[tuple[str, str, str]] = field(default_factory=list)  # (ID, Number, Type)
    release: str | None = None                # ##source=ensembl;version=N
    file_date: str | None = None              # ##fileDate=
    version: tuple[int, int] = (4, 1)         # ##fileformat=VCFvX.Y

    @property
    def samples(self) -> int:
        """Sample columns (after FORMAT); they are not converted."""
        return max(0, self.columns - 9)

    @property
    def keep_percent(self) -> bool:
        """Before VCFv4.3 a '%' in an INFO value is text, not an escape: it is kept."""
        return self.version < (4, 3)

    @property
    def piece_raw(self) -> bytes:
        """The header as polars-bio gets it: INFO Type=Character read as String (the
        contract's type for it; polars-bio refuses Character values)."""
        return re.sub(rb"(?m)^(##INFO=<[^\n]*?\bType=)Character\b", rb"\1String", self.raw)


def parse_header(raw: bytes, name: str) -> Header:
    text = raw.decode("utf-8", errors="replace")
    lines = text.splitlines()
    if not lines or not lines[0].startswith("##fileformat=VCF"):
        first = lines[0][:60] if lines else ""
        raise common.Failure(f"{name}: not a VCF: line 1 is {first!r}, not '##fileformat=VCF...'")
    columns = lines[-1].split("\t")
    if columns[:8] != FIXED:
        raise common.Failure(f"{name}: line {len(lines)}: the column header is not "
                             f"'{' '.join(FIXED)}' (tab-separated)")
    head = Header(raw=raw, lines=len(lines), columns=len(columns))
    if m := re.match(r"##fileformat=VCFv(\d+)\.(\d+)", lines[0]):
        head.version = (int(m.group(1)), int(m.group(2)))
    for line in lines:
        if line.startswith("##INFO=<"):
            attrs = dict(INFO_ATTR.findall(line.split('Description=', 1)[0]))
            if not {"ID", "Number", "Type"} <= attrs.keys():
                raise common.Failure(f"{name}: header line {lines.index(line) + 1}: INFO line without "
                                     f"ID, Number and Type: {line[:80]!r}")
            head.info.append((attrs["ID"], attrs["Number"], attrs["Type"]))
        elif line.startswith("##fileDate="):
            head.file_date = line.split("=", 1)[1].strip()
        elif line.startswith("##source=ensembl"):
            if m := re.search(r";version=(\d+)", line):
                head.release = m.group(1)
    return head


def contract_schema(head: Header):
    """The consumer's schema (see DESIGN.md), in column order."""
    import polars as pl

    base = {"String": pl.String, "Character": pl.String, "Integer": pl.Int32,
            "Float": pl.Float32, "Flag": pl.Boolean}
    schema = {"chrom": pl.String, "start": pl.UInt32, "end": pl.UInt32, "id": pl.String,
              "ref": pl.String, "alt": pl.String, "alts": pl.List(pl.String),
              "qual": pl.Float64, "filter": pl.String}
    for ident, number, typ in head.info:
        dtype = base.get(typ, pl.String)
        schema[ident] = dtype if number in ("0", "1") or typ == "Flag" else pl.List(dtype)
    return schema


# --- reading: decompress, cut into pieces at line ends ------------------------------------

@dataclass
class Piece:
    path: Path
    first_line: int   # line number (1-based, in the whole file) of its first record
    records: int


class Reader:
    """Decompressed text of a VCF (bgzip, gzip or plain), header first, then pieces."""

    def __init__(self, path: Path):
        import pysam

        pysam.set_verbosity(0)  # htslib's own error lines; we report our own
        self.path = path
        self.size = path.stat().st_size
        with open(path, "rb") as fh:
            magic = fh.read(18)
            self.bgzf = magic[:4] == b"\x1f\x8b\x08\x04" and magic[12:14] == b"BC"
            self.gzip = magic[:2] == b"\x1f\x8b"
            if self.bgzf:
                fh.seek(max(0, self.size - len(BGZF_EOF)))
                if fh.read() != BGZF_EOF:
                    raise common.Failure(f"{path}: truncated: the bgzip end-of-file block is missing "
                                         "(an interrupted or partial download?)")
        try:
            self.fh = pysam.BGZFile(str(path), "rb")
        except OSError as exc:
            raise common.Failure(f"{path}: cannot open: {exc}") from None
        self.done = 0  # decompressed bytes read

    def read(self, size: int = READ_BYTES) -> bytes:
        try:
            data = self.fh.read(size)
        except OSError:
            raise common.Failure(f"{self.path}: cannot decompress after {self.done:,} bytes of text: "
                                 "the file is truncated or corrupt") from None
        self.done += len(data)
        return data

    def position(self) -> int:
        """Bytes of the file consumed so far (estimated from the decompressed text
        for a gzip file that is not bgzip)."""
        if not self.gzip:
            return min(self.done, self.size)
        if not self.bgzf:
            return min(self.done // 6, self.size)  # ~6:1 for VCF text
        try:
            return min(self.fh.tell() >> 16, self.size)  # BGZF virtual offset: block start
        except (OSError, ValueError):
            return 0

    def header(self) -> tuple[Header, bytes]:
        buf = b""
        while True:
            data = self.read()
            buf += data
            start = buf.find(b"\n#CHROM")
            end = buf.find(b"\n", start + 1) if start >= 0 else -1
            if end >= 0:
                return parse_header(buf[:end + 1], str(self.path)), buf[end + 1:]
            if not data or len(buf) > MAX_HEADER_BYTES:
                if not buf.startswith(b"##fileformat=VCF"):
                    parse_header(buf[:200].split(b"\n")[0], str(self.path))  # raises "not a VCF"
                if start >= 0 and not data:  # the "#CHROM" line is the last line, no newline
                    return parse_header(buf + b"\n", str(self.path)), b""
                raise common.Failure(f"{self.path}: not a VCF: no '#CHROM' header line "
                                     f"in the first {len(buf):,} bytes of text")

    def close(self) -> None:
        try:
            self.fh.close()
        except OSError:
            pass


def pieces(reader: Reader, head: Header, rest: bytes, workdir: Path,
           piece_bytes: int = PIECE_BYTES) -> Iterator[Piece]:
    """Write the records into piece files (header + whole lines) and yield them.
    Checks on the way that every line has the header's number of columns."""
    tabs_per_line = head.columns - 1
    step = min(READ_BYTES, piece_bytes)

    def blocks() -> Iterator[bytes]:
        for i in range(0, len(rest), step):  # what the header read took beyond the header
            yield rest[i:i + step]
        while data := reader.read(step):
            yield data

    stream = blocks()
    line = head.lines + 1
    carry, eof, n = b"", False, 0
    while not eof:
        n += 1
        path = workdir / f"piece{n:07d}.vcf"
        size = tabs = lines = 0
        suspect = False
        with open(path, "wb") as out:
            out.write(head.piece_raw)
            while size < piece_bytes:
                data = next(stream, b"")
                if data:
                    cut = data.rfind(b"\n") + 1
                    if cut == 0:  # no line end in this read: keep it for the next one
                        carry += data
                        continue
                    chunk, carry = carry + data[:cut], data[cut:]
                else:
                    eof = True
                    chunk, carry = (carry + b"\n" if carry and not carry.endswith(b"\n") else carry), b""
                size += len(chunk)
                tabs += chunk.count(b"\t")
                lines += chunk.count(b"\n")
                if head.keep_percent and b"%" in chunk:
                    chunk = escape_percent(chunk)
                out.write(chunk)
                # polars-bio wraps a POS above 2^32-1 around silently: look closer at any
                # 10-digit POS (about 1 ms per MiB).
                suspect = suspect or bool(LONG_POS_FIRST.match(chunk) or LONG_POS.search(chunk))
                if eof:
                    break
        if not lines:
            path.unlink()
            break
        piece = Piece(path, line, lines)
        if tabs != lines * tabs_per_line or suspect:
            problem = diagnose(piece, head)
            if problem or not suspect:
                raise common.Failure(f"{reader.path}: " + (problem or
                                     f"lines {line}-{line + lines - 1}: wrong number of columns"))
        line += lines
        yield piece


def escape_percent(chunk: bytes) -> bytes:
    """'%' -> '%25' in the INFO column of each line that has one. polars-bio decodes
    %XX escapes in INFO values (VCFv4.3); before 4.3 they are plain text, which this
    makes polars-bio give back unchanged ('p.%3D' stays 'p.%3D')."""
    out = []
    for line in chunk.split(b"\n"):
        if b"%" in line:
            fields = line.split(b"\t", 8)
            if len(fields) > 7 and b"%" in fields[7]:
                fields[7] = fields[7].replace(b"%", b"%25")
                line = b"\t".join(fields)
        out.append(line)
    return b"\n".join(out)


# --- parsing a piece with polars-bio --------------------------------------------------------

def scan(path: Path, head: Header):
    """polars-bio's scan of a piece: the sites and INFO fields, no sample columns."""
    import polars_bio as pb

    return pb.scan_vcf(str(path), format_fields=[]) if head.columns > 8 else pb.scan_vcf(str(path))

def diagnose(piece: Piece, head: Header) -> str | None:
    """Find the first bad record of a piece (plain Python; only run after a failure)."""
    info = {ident: (number, typ) for ident, number, typ in head.info}
    with open(piece.path, "rb") as fh:
        for _ in range(head.lines):
            fh.readline()
        for k, raw in enumerate(fh):
            where = f"line {piece.first_line + k}"
            f = raw.rstrip(b"\r\n").decode("utf-8", errors="replace").split("\t")
            if len(f) != head.columns:
                return f"{where}: {len(f)} columns, the header has {head.columns}"
            if not f[1].isdigit():
                return f"{where}: POS {f[1][:30]!r} is not a number"
            if not 1 <= int(f[1]) <= UINT32_MAX:
                return f"{where}: POS {f[1]} is outside 1..{UINT32_MAX}"
            if f[5] != ".":
                try:
                    float(f[5])
                except ValueError:
                    return f"{where}: QUAL {f[5][:30]!r} is not a number"
            seen = set()
            for item in f[7].split(";"):
                if item in ("", "."):
                    continue
                key, has_value, value = item.partition("=")
                if key in seen:
                    return f"{where}: INFO key {key!r} appears twice"
                seen.add(key)
                if key not in info:
                    return f"{where}: INFO key {key!r} is not declared in the header"
                number, typ = info[key]
                if typ == "Flag" and has_value:
                    return f"{where}: INFO flag {key!r} has a value ({value[:30]!r})"
                if typ in ("Integer", "Float"):
                    for v in value.split(","):
                        try:
                            v == "." or (int(v) if typ == "Integer" else float(v))
                        except ValueError:
                            return f"{where}: INFO {key}={value[:30]!r} is not of type {typ}"
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return re.sub(r"^.*(?:exception: |DataFusion error: )", "", text)[:300]


def parse_piece(piece: Piece, head: Header, columns: list, source: Path):
    """One piece as a DataFrame in the contract's columns (runs in a worker thread)."""
    try:
        try:
            df = scan(piece.path, head).collect().with_columns(_alts()).select(columns)
        except Exception as exc:  # ComputeError, ValueError, and pyo3's PanicException
            if "KeyboardInterrupt" in str(exc):  # Ctrl-C, wrapped by polars on its way here
                raise KeyboardInterrupt from None
            last = piece.first_line + piece.records - 1
            raise common.Failure(f"{source}: " + (diagnose(piece, head) or
                                 f"lines {piece.first_line}-{last}: polars-bio: {_short(exc)}"))
        return df
    finally:
        piece.path.unlink(missing_ok=True)


def _alts():
    import polars as pl

    return (pl.when(pl.col("alt") == "").then(pl.lit([], dtype=pl.List(pl.String)))
            .otherwise(pl.col("alt").str.split("|")).alias("alts"))


# --- the conversion ---------------------------------------------------------------------------

def tool_version() -> str:
    import polars
    import polars_bio

    try:
        with open(common.ROOT / "pyproject.toml", "rb") as fh:
            version = tomllib.load(fh)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        version = "unknown"
    return f"prepare-annotations {version} (vcf2parquet; polars-bio {polars_bio.__version__}, polars {polars.__version__})"


def checksum_of(vcf: Path) -> str | None:
    """``checksum blocks`` of ``vcf`` from the species' CHECKSUMS (vcf/.. or beside it)."""
    for sums in (vcf.parent.parent / "CHECKSUMS", vcf.parent / "CHECKSUMS"):
        table = sumcheck.load_checksums(sums)
        if table and vcf.name in table:
            return str(table[vcf.name])
    return None


def auto_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def convert(vcf: Path, out: Path, threads: int = 0, piece_bytes: int = PIECE_BYTES,
            progress_every: float = 10.0) -> dict:
    """Convert ``vcf`` into ``out`` (temporary name, then rename). Returns facts for the
    step log: rows, bytes, threads."""
    import polars as pl
    import polars_bio as pb
    import polars_bio.io as pbio
    from polars.io.plugins import register_io_source

    # polars-bio draws its own rows bar for every scan (one per piece here); we show ours.
    pbio.tqdm = functools.partial(pbio.tqdm, disable=True)
    pb.set_option("datafusion.execution.batch_size", BATCH_ROWS)
    threads = threads or auto_threads()

    reader = Reader(vcf)
    out.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".{out.stem}.", suffix=".pieces", dir=out.parent))
    tmp = common.temp_path_for(out)
    failure: list[BaseException] = []
    try:
        head, rest = reader.header()
        schema = contract_schema(head)
        # polars-bio's types for this header, read from a header-only file: any column
        # whose type differs from the contract is cast (none with polars-bio 0.36.2).
        (workdir / "header.vcf").write_bytes(head.piece_raw)
        try:
            native = scan(workdir / "header.vcf", head).with_columns(_alts()).collect_schema()
        except Exception as exc:  # noqa: BLE001 - polars-bio's own words, with the file named
            raise common.Failure(f"{vcf}: header rejected by polars-bio: {_short(exc)}") from None
        missing = [c for c in schema if c not in native]
        extra = [c for c in native if c not in schema]
        if missing or extra:
            raise common.Failure(f"{vcf}: the header's INFO lines and polars-bio disagree on the columns "
                                 f"(not read: {', '.join(missing) or '-'}; unexpected: {', '.join(extra) or '-'})")
        columns = [pl.col(c) if native[c] == t else pl.col(c).cast(t) for c, t in schema.items()]
        # polars-bio reads QUAL as a 32-bit float (29.1 -> 29.100000381469727): its shortest
        # decimal form, read as Float64, is the number written in the file (up to 6 digits).
        columns[list(schema).index("qual")] = pl.col("qual").cast(pl.Float32).cast(pl.String).cast(pl.Float64)

        progress = common.Progress(f"{vcf.name}", total=reader.size, unit="B", every=progress_every)
        pool = ThreadPoolExecutor(threads, thread_name_prefix="vcf2parquet")

        def parsed() -> Iterator[pl.DataFrame]:
            """The pieces' DataFrames in file order, ``threads`` parsed at once."""
            queue: collections.deque = collections.deque()
            done_offset = 0
            try:
                for piece in pieces(reader, head, rest, workdir, piece_bytes):
                    queue.append(pool.submit(parse_piece, piece, head, columns, vcf))
                    offset = reader.position()
                    progress.update(offset - done_offset)
                    done_offset = offset
                    if len(queue) > threads:
                        yield queue.popleft().result()
                while queue:
                    yield queue.popleft().result()
            except BaseException as exc:
                failure.append(exc)
                for fut in queue:
                    fut.cancel()
                raise

        def source(with_columns, predicate, n_rows, batch_size):  # polars' io-source protocol
            # A refusal ends the stream; it is never raised into polars. An exception out
            # of an io source makes sink_parquet return at once while the sink's writer
            # task, detached on polars' async runtime, may not have opened the file yet:
            # it then creates it (and writes an empty Parquet) after our clean-up removed
            # it. Ending the stream makes sink_parquet return only once the writer has
            # closed the file; the refusal (kept in ``failure``) is raised after that.
            try:
                for df in parsed():
                    df = df if predicate is None else df.filter(predicate)
                    df = df if with_columns is None else df.select(with_columns)
                    if n_rows is not None:
                        df, n_rows = df.head(n_rows), n_rows - min(n_rows, df.height)
                    yield df
                    if n_rows == 0:
                        return
            except BaseException as exc:  # noqa: BLE001 - raised after the sink is done
                if not failure:
                    failure.append(exc)

        frame = register_io_source(source, schema=schema)
        metadata = {"source_file": vcf.name, "tool": tool_version()}
        if head.samples:
            metadata["samples_dropped"] = str(head.samples)
        if head.release:
            metadata["ensembl_release"] = head.release
        if head.file_date:
            metadata["vcf_file_date"] = head.file_date
        metadata["source_checksum"] = str(sumcheck.file_sum(vcf))  # of the file converted
        metadata["source_checksum_algorithm"] = "BSD sum (checksum, 1K blocks), as in Ensembl CHECKSUMS"
        if (listed := checksum_of(vcf)) and listed != metadata["source_checksum"]:
            common.say(f"warning: {vcf}: checksum {metadata['source_checksum']} differs from CHECKSUMS "
                       f"({listed}); `make verify` removes such files")
        try:
            frame.sink_parquet(tmp, compression="zstd", engine="streaming", metadata=metadata)
            if failure:  # the stream ended on a refusal; the writer has closed the file
                raise failure[0]
        except common.Failure:
            raise
        except BaseException as exc:
            if failure:  # the original error raised in the source, not polars' wrapper
                raise failure[0] from None
            if isinstance(exc, KeyboardInterrupt) or "KeyboardInterrupt" in str(exc):
                raise KeyboardInterrupt from None
            raise common.Failure(f"{vcf}: writing {tmp.name}: {_short(exc)}") from None
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            progress.close()
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(tmp).metadata.num_rows
        os.replace(tmp, out)
        return {"rows": rows, "bytes": out.stat().st_size, "threads": threads,
                **({"samples_dropped": head.samples} if head.samples else {})}
    finally:
        reader.close()
        tmp.unlink(missing_ok=True)
        shutil.rmtree(workdir, ignore_errors=True)


# --- command line -------------------------------------------------------------------------

def default_out(vcf: Path, cfg: dict) -> Path:
    return common.species_dir(cfg) / f"{common.vcf_stem(vcf.name)}.parquet"


def main(
    vcf: Path = typer.Argument(..., help="The VCF (bgzip, gzip or plain text)"),
    out: Path = typer.Argument(None, help="The Parquet file (default: <cache>/ensembl/<species>/<stem>.parquet)"),
    threads: int = typer.Option(None, min=0, help="Pieces parsed at once (default: config `threads`; 0 = one per CPU)"),
    piece_mib: float = typer.Option(PIECE_BYTES / 2**20, min=0.01, help="Text per piece, MiB (memory vs. overhead)"),
) -> None:
    """Convert one VCF into one Parquet file (streaming, bounded memory)."""
    cfg = common.load_config()
    threads = int(cfg["threads"]) if threads is None else threads
    out = out or default_out(vcf, cfg)
    in_species = out.parent.resolve() == common.species_dir(cfg).resolve()
    log = common.step_log_path(cfg) if in_species else out.parent / "steps.jsonl"
    try:
        with common.exit_on_failure(vcf):
            if not vcf.is_file():
                raise common.Failure(f"{vcf}: no such file")
            import polars_bio  # noqa: F401 - imported before the clock starts (~0.5 s)

            t0 = time.perf_counter()
            with common.step(log, "vcf2parquet", out) as rec:
                rec["source"] = str(vcf)
                rec.update(convert(vcf, out, threads, int(piece_mib * 2**20)))
            secs = time.perf_counter() - t0
            common.say(f"{vcf.name} -> {out.name}: {rec['rows']:,} rows, {common.human_bytes(rec['bytes'])}, "
                       f"{secs:.1f} s ({rec['rows'] / max(secs, 1e-9):,.0f} rows/s), {rec['threads']} threads, "
                       f"peak RSS {common.human_bytes(common.peak_rss_bytes())}"
                       + (f"; {rec['samples_dropped']} sample columns not converted (sites only)"
                          if rec.get("samples_dropped") else ""))
    except KeyboardInterrupt:
        common.die(f"{vcf}: interrupted; no Parquet written", code=130)


if __name__ == "__main__":
    typer.run(main)

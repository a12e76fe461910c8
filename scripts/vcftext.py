"""Reading a VCF as text, for vcf2parquet.py: the header (INFO fields, release, date,
format version, sample columns) and the decompressed text cut at line ends into pieces of
about PIECE_BYTES, each a small VCF file of its own (the header + its lines), with the
checks polars-bio does not make (truncated bgzip, wrong column count, POS of 10 digits).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import common

PIECE_BYTES = 8 << 20          # decompressed text per piece handed to polars-bio
READ_BYTES = 1 << 20           # one read from the decompressor
MAX_HEADER_BYTES = 64 << 20    # no "#CHROM" line within this: not a VCF
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

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
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import typer

import common
import outputs
import sumcheck
from vcftext import PIECE_BYTES, Header, Piece, Reader, diagnose, pieces

BATCH_ROWS = 65536             # DataFusion batch size (its default, 8192: ~20% slower here)


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


# --- parsing a piece with polars-bio --------------------------------------------------------

def scan(path: Path, head: Header):
    """polars-bio's scan of a piece: the sites and INFO fields, no sample columns."""
    import polars_bio as pb

    return pb.scan_vcf(str(path), format_fields=[]) if head.columns > 8 else pb.scan_vcf(str(path))


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
    workdir = common.temp_path_for(out, ".pieces")
    tmp = common.temp_path_for(out)
    outputs.remove_on_stop(tmp, workdir)  # (under outputs.guarded: what a stop removes)
    workdir.mkdir()
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
            except GeneratorExit:  # closed by polars: not a failure of ours
                for fut in queue:
                    fut.cancel()
                raise
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
            raise common.Failure(f"{vcf}: checksum {metadata['source_checksum']} does not match CHECKSUMS "
                                 f"({listed}): not converted. `make verify` removes it, then `make parquet` "
                                 "downloads it again and converts it")
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
        outputs.hold("vcf2parquet-commit")
        digest = outputs.commit(tmp, out)
        outputs.hold("vcf2parquet-committed")
        return {"rows": rows, "bytes": digest["bytes"], "threads": threads, "digest": digest,
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

            outputs.clamp_future_mtime(vcf)
            with outputs.guarded(cfg, out, f"{vcf}: interrupted; no Parquet written", inputs=[vcf]) as made:
                if made:
                    common.say(f"{out.name}: made meanwhile by another process; nothing to do")
                    return
                t0 = time.perf_counter()
                with common.step(log, "vcf2parquet", out) as rec:
                    rec["source"] = str(vcf)
                    facts = convert(vcf, out, threads, int(piece_mib * 2**20))
                    digest = facts.pop("digest")
                    rec.update(facts, written=outputs.written(log, {out: digest}))
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

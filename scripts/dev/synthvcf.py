"""Generate a deterministic, Ensembl-shaped variation VCF (bgzipped by default).

Used by the demo mini-mirror, the benchmark and the tests. The header follows
Ensembl release 114 (versioned source flags such as ``dbSNP_156`` and
``HGMD-PUBLIC_20204``, ``E_*`` evidence flags, 13 ``CLIN_*`` flags, MA/MAF/MAC/AA);
records are sorted by position on one chromosome, about 88% SNVs, the rest indels,
about 13% multi-allelic, ids ``rs<N>`` with N >= 1.5e9 (distinct from planted ones). The same arguments always give the same
bytes. Records are written in chunks, so millions of them never sit in memory.

    python scripts/dev/synthvcf.py OUT.vcf.gz --records 100000 --seed 1 --chrom 21
"""

from __future__ import annotations

import heapq
import os
import random
from pathlib import Path
from typing import Iterable, Iterator

import typer

import onpath  # noqa: F401 - scripts/ on sys.path, before the pipeline's modules
import common

_EVIDENCE_URL = "https://www.ensembl.org/info/genome/variation/prediction/variant_quality.html#evidence_status"
_CLIN_URL = "https://www.ensembl.org/info/genome/variation/phenotype/phenotype_association.html#clin_significance"

SOURCE_FLAGS = ["dbSNP_156", "HGMD-PUBLIC_20204", "ClinVar_202409"]
EVIDENCE_FLAGS = ["E_Cited", "E_Multiple_observations", "E_Freq", "E_TOPMed", "E_Hapmap",
                  "E_Phenotype_or_Disease", "E_ESP", "E_gnomAD", "E_1000G", "E_ExAC"]
CLIN_FLAGS = ["CLIN_risk_factor", "CLIN_protective", "CLIN_confers_sensitivity", "CLIN_other",
              "CLIN_drug_response", "CLIN_uncertain_significance", "CLIN_benign",
              "CLIN_likely_pathogenic", "CLIN_pathogenic", "CLIN_likely_benign",
              "CLIN_histocompatibility", "CLIN_not_provided", "CLIN_association"]

# (ID, Number, Type, Description) in the order of a release-114 header.
HEADER_INFO: list[tuple[str, str, str, str]] = [
    ("dbSNP_156", "0", "Flag", "Variants (including SNPs and indels) imported from dbSNP"),
    ("HGMD-PUBLIC_20204", "0", "Flag", "Variants from HGMD-PUBLIC dataset December 2020"),
    ("ClinVar_202409", "0", "Flag", "Variants of clinical significance imported from ClinVar"),
    ("TSA", "1", "String", "Type of sequence alteration. Child of term sequence_alteration "
                           "as defined by the sequence ontology project."),
    *[(f, "0", "Flag", f"{f[2:].replace('_', ' ')}.{_EVIDENCE_URL}") for f in EVIDENCE_FLAGS],
    *[(f, "0", "Flag", f"{f[5:].replace('_', ' ')}. {_CLIN_URL}") for f in CLIN_FLAGS],
    ("MA", "1", "String", "Minor Allele"),
    ("MAF", "1", "Float", "Minor Allele Frequency"),
    ("MAC", "1", "Integer", "Minor Alellele Count"),
    ("AA", "1", "String", "Ancestral Allele"),
]

COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
BASES = "ACGT"
CHUNK = 20_000  # records per write


def header_lines(species: str = "homo_sapiens", release: int = 114, file_date: str = "20250220",
                 info: Iterable[tuple[str, str, str, str]] = HEADER_INFO) -> list[str]:
    lines = [
        "##fileformat=VCFv4.1",
        f"##fileDate={file_date}",
        f"##source=ensembl;version={release};url=https://e{release}.ensembl.org/{species}",
        f"##reference=ftp://ftp.ensembl.org/pub/release-{release}/fasta/{species}/dna/",
    ]
    for ident, number, typ, desc in info:
        lines.append(f'##INFO=<ID={ident},Number={number},Type={typ},Description="{desc}">')
    lines.append("\t".join(COLUMNS))
    return lines


def _seq(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(BASES) for _ in range(n))


def _records(n: int, rng: random.Random, chrom: str, start_pos: int) -> Iterator[tuple[int, str]]:
    """Yield (pos, line) for ``n`` random records in position order."""
    pos = start_pos
    # Far above the curated rsids tests plant (rs7412, rs429358...), so never a clash.
    rsid = 1_500_000_000 + rng.randrange(1_000_000)
    rand, choice, bits = rng.random, rng.choice, rng.getrandbits
    for _ in range(n):
        pos += 0 if rand() < 0.03 else 1 + int(rand() * rand() * 12)
        rsid += 1 + int(rand() * 40)
        multi = rand() < 0.13
        if rand() < 0.88:  # SNV
            ref = choice(BASES)
            others = [b for b in BASES if b != ref]
            alts = rng.sample(others, 2 if multi else 1)
            tsa = "SNV"
        else:  # indel
            kind = rand()
            if kind < 0.4:  # insertion
                ref = choice(BASES)
                alts = [ref + _seq(rng, 1 + int(rand() * 4))]
                if multi:
                    alts.append(ref + _seq(rng, 2 + int(rand() * 5)))
                tsa = "insertion"
            elif kind < 0.8:  # deletion
                ref = _seq(rng, 2 + int(rand() * 5))
                alts = [ref[0]]
                if multi:
                    alts.append(ref[:2])
                tsa = "deletion"
            else:  # indel / substitution
                ref = _seq(rng, 2 + int(rand() * 3))
                alts = [_seq(rng, 1 + int(rand() * 3))]
                if multi:
                    alts.append(_seq(rng, 3))
                tsa = "indel" if len(alts[0]) != len(ref) else "substitution"
            alts = list(dict.fromkeys(a for a in alts if a != ref)) or [ref + "A"]
        info = ["dbSNP_156"] if rand() < 0.985 else []
        if rand() < 0.004:
            info.append("HGMD-PUBLIC_20204")
        if rand() < 0.02:
            info.append("ClinVar_202409")
        info.append(f"TSA={tsa}")
        ev = bits(10) & bits(10)  # each evidence flag ~25%
        if ev:
            info.extend(EVIDENCE_FLAGS[i] for i in range(10) if ev >> i & 1)
        if rand() < 0.03:
            info.extend(rng.sample(CLIN_FLAGS, 2 if rand() < 0.3 else 1))
        if rand() < 0.2:
            ma = choice(alts) if len(alts[0]) == 1 else "-"
            info.append(f"MA={ma}")
            info.append(f"MAF={round(rand() * 0.5, 5):g}")
            info.append(f"MAC={1 + int(rand() * 5000)}")
        if rand() < 0.6:
            info.append(f"AA={ref[0] if rand() < 0.9 else choice(BASES)}")
        yield pos, f"{chrom}\t{pos}\trs{rsid}\t{ref}\t{','.join(alts)}\t.\t.\t{';'.join(info)}\n"


def write_vcf(path: Path, n_records: int, *, seed: int = 0, chrom: str = "1",
              species: str = "homo_sapiens", release: int = 114, file_date: str = "20250220",
              extra_records: Iterable[tuple[str, int, str, str, str, str]] = (),
              start_pos: int = 10_000, bgzip: bool = True) -> Path:
    """Write ``n_records`` random records (plus ``extra_records`` (chrom, pos, id, ref,
    alt, info), merged in position order) to ``path``; bgzipped (BGZF, tabix-ready)
    when ``bgzip``. Written to a temporary sibling and renamed. Returns ``path``."""
    path = Path(path)
    rng = random.Random(seed)
    extras = sorted(
        ((int(pos), f"{c}\t{int(pos)}\t{i}\t{r}\t{a}\t.\t.\t{info or '.'}\n")
         for c, pos, i, r, a, info in extra_records),
        key=lambda t: t[0],
    )
    merged = heapq.merge(_records(n_records, rng, chrom, start_pos), extras, key=lambda t: t[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = common.temp_path_for(path)
    try:
        if bgzip:
            import pysam

            out = pysam.BGZFile(str(tmp), "wb")
        else:
            out = open(tmp, "wb")
        with out:
            out.write(("\n".join(header_lines(species, release, file_date)) + "\n").encode())
            buf: list[str] = []
            for _, line in merged:
                buf.append(line)
                if len(buf) >= CHUNK:
                    out.write("".join(buf).encode())
                    buf.clear()
            if buf:
                out.write("".join(buf).encode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def main(
    out: Path = typer.Argument(..., help="Output file (.vcf.gz is bgzipped unless --plain)"),
    records: int = typer.Option(1000, "--records", "-n", min=0, help="Number of random records"),
    seed: int = typer.Option(0, help="Random seed (same seed, same bytes)"),
    chrom: str = typer.Option("1", help="Chromosome name as written in the VCF"),
    species: str = typer.Option("homo_sapiens", help="Species in the ##source line"),
    release: int = typer.Option(114, help="Ensembl release in the ##source line"),
    file_date: str = typer.Option("20250220", help="##fileDate value"),
    start_pos: int = typer.Option(10_000, help="Position before the first record"),
    plain: bool = typer.Option(False, "--plain", help="Write uncompressed text"),
) -> None:
    """Write a deterministic Ensembl-shaped VCF."""
    write_vcf(out, records, seed=seed, chrom=chrom, species=species, release=release,
              file_date=file_date, start_pos=start_pos, bgzip=not plain)


if __name__ == "__main__":
    typer.run(main)

"""Small synthetic sources for every module, with the real schemas and the awkward rows the
real curations have or could have (TEXT weights that are not numbers, reversed and
reverse-strand genotypes, missing rsids, palindromic A/T and C/G records, duplicates,
conflicts, superhuman's zygosity-only rows, drug sentences about indels and repeats), and
the Ensembl records the demo mirror plants so that every module has weights.

    python scripts/dev/modfixtures.py DIR        # every module's source (and logo) under DIR/<module>/

`build_source(module, path)` writes one source; tests pass their own rows through the
keyword arguments. `DEMO_VARIANTS` are (chrom, pos, rsid, ref, alt, info) records placed on
the demo chromosomes (19, 21, X). `implied_records(module, path)` gives Ensembl-shaped
records for a source's rsids from the alleles the source itself names (for running a real
source without the real Ensembl set).
"""

from __future__ import annotations

import re
import sqlite3
import struct
import zlib
from collections import defaultdict
from pathlib import Path

import typer

import onpath  # noqa: F401 - scripts/ on sys.path, before the pipeline's modules
import common
import lmfixture
import moduledef

SNV = "dbSNP_156;TSA=SNV;E_Freq"
DEMO_VARIANTS: list[tuple[str, int, str, str, str, str]] = [
    # lipidmetabolism (with the LongevityMap demo's APOE records rs429358, rs7412)
    ("21", 30000200, "rs268", "A", "G", "dbSNP_156;ClinVar_202409;TSA=SNV;CLIN_risk_factor"),
    ("21", 30000100, "rs328", "C", "G", SNV),                       # C/G: palindromic
    # vo2max
    ("21", 30000300, "rs17602729", "G", "A", SNV),
    ("19", 30000400, "rs884736", "T", "A", SNV),                    # A/T: palindromic
    # coronary
    ("X", 30000500, "rs4977574", "A", "G", "dbSNP_156;ClinVar_202409;TSA=SNV;CLIN_association"),
    ("19", 30000600, "rs17672135", "T", "C", SNV),
    # superhuman
    ("21", 30000700, "rs1007211", "G", "A", SNV),
    ("X", 30000800, "rs10180721", "A", "T", SNV),                   # A/T: palindromic
    ("19", 30000900, "rs5082", "C", "T", SNV),
    ("21", 30001000, "rs1012788466", "C", "A,T", SNV),              # multi-allelic
    # drugs
    ("19", 30001100, "rs9839376", "C", "T", SNV),
    ("21", 30001200, "rs2231142", "G", "T", "dbSNP_156;ClinVar_202409;TSA=SNV;CLIN_drug_response"),
    ("19", 30001400, "rs28386840", "A", "T", SNV),
    ("21", 30001500, "rs6280", "T", "C", SNV),
]

# --- the real schemas (as in the dna-seq repositories' SQLite files) ------------------------------

LIPID_SCHEMA = """
CREATE TABLE "rsids" ("index" INTEGER, "rsid" TEXT, "gene" TEXT, "ref_allele" TEXT, "alt_allele" TEXT,
  "risk_allele" TEXT, "rsid_conclusion" TEXT, "pmids" TEXT, "population" TEXT, "p_value" TEXT);
CREATE TABLE "studies" ("index" INTEGER, "pubmed_id" INTEGER, "snp" TEXT, "populations" TEXT, "p_value" TEXT);
CREATE TABLE "weight" ("index" INTEGER, "rsid" TEXT, "genotype" TEXT, "weight" TEXT,
  "genotype_specific_conclusion" TEXT, "ref_allele" TEXT, "alt_allele" TEXT, "risk_allele" TEXT,
  "allele" TEXT, "state" TEXT, "zygosity" TEXT);
"""
VO2MAX_SCHEMA = """
CREATE TABLE "genotype_weights" ("index" INTEGER, "rsID" TEXT, "genotype" TEXT, "weight" TEXT,
  "genotype_specific_conclusion" TEXT, "ref_allele" TEXT, "alt_allele" TEXT, "risk_allele" TEXT,
  "allele" TEXT, "state" TEXT, "zygosity" TEXT);
CREATE TABLE "rsid" ("index" INTEGER, "rsid" TEXT, "gene" TEXT, "ref_allele" TEXT, "alt_allele" TEXT,
  "risk_allele" TEXT, "rsid_conclusion" TEXT, "pmids" TEXT, "population" TEXT, "p_value" TEXT);
"""
CORONARY_SCHEMA = """
CREATE TABLE coronary_disease (id integer NOT NULL PRIMARY KEY, rsID text, Gene text, Ref_allele text,
  Alt_allele text, Risk_allele text, Genotype text, Conclusion text, Weight text, PMID text, Population text,
  GWAS_study_design text, P_value text, zygosity TEXT, state TEXT);
"""
SUPERHUMAN_SCHEMA = """
CREATE TABLE "superhuman" ("rsid" TEXT, "gene" TEXT, "polymorphism" TEXT, "location_38" TEXT,
  "ref_allele" TEXT, "alt_allele" TEXT, "genotype" TEXT, "zygosity" TEXT, "superability" TEXT,
  "adverse_effects" TEXT, "references" TEXT);
"""
DRUGS_HEADER = ["Variant Annotation ID", "Variant/Haplotypes", "Drug(s)", "Phenotype Category", "Significance",
                "Sentence", "Allele Of Frequency In Cases", "Allele Of Frequency In Controls", "P Value",
                "Ratio Stat Type", "Ratio Stat", "Confidence Interval Start", "Confidence Interval Stop"]

# --- the rows ----------------------------------------------------------------------------------

LIPID_RSIDS = [  # (rsid, gene, ref, alt, risk, conclusion, pmids, population, p_value)
    ("rs429358", "APOE", "T", "C", "C", "APOE e4 raises LDL cholesterol.", "[PMID 20429872]; [PMID 34887591];",
     "European; Asian;", "6,00E-256"),
    ("rs7412", "APOE", "C", "T", "C", "APOE e2 lowers LDL cholesterol.", "[PMID: 20406466];", "European", "6,00E-14"),
    ("rs268", "LPL", "A", "G", "G", "LPL N291S raises triglycerides.", "[PMID 22399527]; [PMID: 20429872];",
     "European;", "2,00E-12"),
    ("rs328", "LPL", "C", "G", "G", "LPL S447X.", "no PubMed id given", "European; African", "2,00E-28"),
    ("rs708272", "CETP", "G", "A", "G", "CETP TaqIB.", "[PMID 18560005];", "Asian", "3,00E-11"),
]
LIPID_STUDIES = [(18193044, "rs328", "Discovery sample description: 2,758 European ancestry individuals", "2,00E-28"),
                 (22399527, "rs268", "Discovery sample description: 10,564 European (Finland)", "2,00E-12")]
LIPID_WEIGHTS = [  # (rsid, genotype, weight as TEXT, conclusion)
    ("rs429358", "TT", "0", "Typical lipid levels."),
    ("rs429358", "CT", "-0.5", "One e4 allele."),
    ("rs429358", "CC", "-1", "Two e4 alleles."),
    ("rs7412", "TC", "0.5", "One e2 allele (genotype written reversed)."),
    ("rs7412", "TT", "high", "Weight that is not a number."),
    ("rs268", "AG", "-0.5", "Carrier of N291S."),
    ("rs268", "TT", "0", "Reverse strand: TT is AA on Ensembl's forward strand."),
    ("rs328", "CG", "-0.4", "Heterozygous on a C/G record: the same genotype on either strand."),
    ("rs328", "GG", "-0.8", "C/G record: palindromic (GG or CC?), kept as given and listed."),
    (None, "AA", "0", "No rsid."),
    ("rs708272", "GA", "0.3", "Not in the demo Ensembl set."),
    ("rs429358", "TC", "-0.5", "One e4 allele."),                  # same as CT: merged
    ("rs268", "GG", "-1", "Two risk alleles."),
    ("rs268", "GG", "-0.9", "Two risk alleles, another weight."),   # conflicting weights
    ("rs429358", "CA", "-0.2", "Matches neither strand."),
    ("rs328", "CC", "", "No weight."),
    ("rs7412", "AGT", "0.1", "Not a genotype."),
]
VO2MAX_RSIDS = [("rs17602729", "AMPD1", "G", "A", "A", "AMPD1 C34T.", "[PMID 21967077]; [PMID 2783984]",
                 " \r Caucasian", "0.04"),
                ("rs884736", "CAMTA1", "T", "A", "A", "CAMTA1.", "[PMID 21183627]", "Caucasian;African-American",
                 "1.49E-4")]
VO2MAX_WEIGHTS = [("rs17602729", "GG", "0", "Normal response"), ("rs17602729", "GA", "-0.5", "Low response"),
                  ("rs17602729", "AA", "-1", "Low response"), ("rs884736", "TT", "0", "Normal response"),
                  ("rs884736", "AT", "0", "Normal response"), ("rs884736", "AA", "-1", "Low response"),
                  ("rs10921078", "GG", "0", "Not in the demo set"), (None, "GG", "0", "No rsid"),
                  ("rs884736", "TA", "n/a", "Weight that is not a number"),
                  ("rs17602729", "AG", "-0.5", "Low response")]  # same as GA: merged
CORONARY_ROWS = [  # (rsID, gene, ref, alt, genotype, conclusion, weight, pmid, zygosity, state) - the
    # source's zygosity and state columns do not match its genotypes, as in the real table
    ("rs4977574", "CDKN2B-AS1", "A", "G", "AA", "AA carriers: typical.", "0", "PMID 17478681; PMID: 30278588;", "hom", "alt"),
    ("rs4977574", "CDKN2B-AS1", "A", "G", "AG", "GA carriers: 1.3x risk.", "-1.3", "PMID 17478681", "hom", "ref"),
    ("rs4977574", "CDKN2B-AS1", "A", "G", "GG", "GG carriers: 1.54x risk.", "-1.54", "PMID 17478681;", "het", "alt"),
    ("rs4977574", "CDKN2B-AS1", "A", "G", "GA", "Conflicting weight.", "-1.1", "PMID 17478681;", "het", "alt"),
    ("rs17672135", "FMN2", "T", "C", "TT", "TT: 1.3x risk.", "-0.3", "PMID 17554300;", "hom", "ref"),
    ("rs17672135", "FMN2", "T", "C", "CT", "TC: typical.", "0", "PMID 17554300;", "het", "alt"),
    ("rs17672135", "FMN2", "T", "C", "CC", "CC: slightly reduced risk.", "0.2", "no id", "hom", "alt"),
    ("rs17672135", "FMN2", "T", "C", "AA", "Reverse strand: AA is TT.", "-0.3", "PMID 17554300;", "hom", "ref"),
    ("rs1333049", "CDKN2B-AS1", "G", "C", "CC", "Not in the demo set.", "-1", "PMID 17634449", "hom", "alt"),
    ("", "LPA", "C", "T", "TT", "No rsid.", "-1", "", "hom", "alt"),
    ("rs17672135", "FMN2", "T", "C", "TC", "Weight that is not a number.", "x1.2", "", "het", "alt"),
]
SUPERHUMAN_ROWS = [  # (rsid, gene, location, ref, alt, genotype, zygosity, superability, adverse, reference)
    ("rs1007211", "NTRK1", "21:30000700", "G", "A", None, "hom", "Pain insensitive", "Unnoticed harm",
     "https://www.ncbi.nlm.nih.gov/snp/rs1007211"),
    ("rs1007211", "NTRK1", "21:30000700", "G", "A", None, "het", "Pain insensitive", "Unnoticed harm",
     "https://pubmed.ncbi.nlm.nih.gov/12345678/"),
    ("rs10180721", "SCN9A", "X:30000800", "A", " T", None, "hom", "Pain insensitive", "Hypersensitivity",
     "https://www.ncbi.nlm.nih.gov/snp/rs10180721"),
    ("rs1012788466", "RIMS1", "21:30001000", "C", "A", None, "both", "High cognitive", "Cone-rod dystrophy",
     "https://pubmed.ncbi.nlm.nih.gov/23456789/"),
    ("rs1012788466", "RIMS1", "21:30001000", "C", "T", None, "hom", "High cognitive", "Cone-rod dystrophy",
     "https://pubmed.ncbi.nlm.nih.gov/23456789/"),
    ("rs5082", "APOA2", None, None, None, "CC", "hom", "Low coronary disease", "Obesity",
     "https://pubmed.ncbi.nlm.nih.gov/17446329/"),
    ("rs113359739", "RIMS1", "6:72392821-72392830", "-", "-", None, "hom", "High cognitive", "Cone-rod dystrophy", None),
    (None, "PCSK9", "1:55039974", "G", "T", None, "both", "Low cholesterol", "Not reported", None),
    ("rs999999001", "MSTN", "2:190055744", "G", "A", None, "hom", "Lean muscles", "Not reported", None),
    ("rs1007211", "NTRK1", "21:30000700", "G", "A", None, "hom", "Pain insensitive", "Unnoticed harm",
     "https://www.ncbi.nlm.nih.gov/snp/rs1007211"),              # the first row again: merged
    ("rs1007211", "NTRK1", "21:30000700", "G", "A", None, "unknown", "Pain insensitive", "Unnoticed harm", None),
    ("rs1007211", "NTRK1", None, None, None, None, "hom", "Pain insensitive", "Unnoticed harm", None),
]
DRUGS_ROWS = [  # (annotation id, variant, drug, phenotype category, significance, sentence, p value)
    ("1451307925", "rs9839376", "ritodrine", "Efficacy", "yes",
     "Genotype CC is associated with decreased response to ritodrine as compared to genotypes CT + TT.", "< 0.05"),
    ("1451307926", "rs9839376", "ritodrine", "Efficacy", "no",
     "Genotypes CT + TT are associated with increased response to ritodrine as compared to genotype CC.", "= 0.2"),
    ("1447960001", "rs2231142", "allopurinol", "Efficacy", "yes",
     "Allele T is associated with decreased response to allopurinol in people with Gout as compared to allele G.",
     "< 0.001"),
    ("1447960001", "rs2231142", "allopurinol", "Efficacy", "yes",   # the same annotation, another study: merged
     "Allele T is associated with decreased response to allopurinol in people with Gout as compared to allele G.",
     "= 0.003"),
    ("1449000001", "rs1799752", "sertraline", "Efficacy", "yes",
     "Genotype del/del is associated with increased response to sertraline in people with Depressive Disorder.", ""),
    ("1449000002", "rs57098334", "nortriptyline", "Efficacy", "no",
     "Allele (AGCCCACCC)12 is not associated with response to nortriptyline in people with Tobacco Use Disorder.", ""),
    ("1450376471", "rs28386840", "methylphenidate", "Efficacy", "no",
     "Genotypes AT + TT are associated with increased response to methylphenidate as compared to genotype AA.",
     "= 0.093"),
    ("1450180215", "rs28386840", "methylphenidate", "Efficacy", "yes",   # the same sentence, significant: a conflict
     "Genotypes AT + TT are associated with increased response to methylphenidate as compared to genotype AA.",
     "< 0.0001"),
    ("1449000003", "rs6280", "clozapine", "Efficacy", "not stated",
     "Allele T is not associated with response to clozapine in people with Schizophrenia.", ""),
    ("1449000004", "rs123", "warfarin", "Dosage", "yes", "Patients with the variant need lower doses.", "< 0.05"),
    ("1449000005", "rs6280", "antipsychotics", "Toxicity", "yes",    # A is T on Ensembl's forward strand
     "Allele A is associated with increased risk of Tardive Dyskinesia when treated with antipsychotics.", "< 0.01"),
    ("1449000006", "CYP2D6*4", "codeine", "Metabolism/PK", "yes",
     "Allele CYP2D6*4 is associated with decreased metabolism of codeine.", ""),
]


def lipidmetabolism(path: Path, *, rsids=None, studies=None, weights=None) -> Path:
    rsids = LIPID_RSIDS if rsids is None else rsids
    weights = LIPID_WEIGHTS if weights is None else weights
    return lmfixture.write_sqlite(path, LIPID_SCHEMA, [
        ("INSERT INTO rsids VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(rsids)]),
        ("INSERT INTO studies VALUES (?, ?, ?, ?, ?)", [(i, *r) for i, r in enumerate(LIPID_STUDIES if studies is None
                                                                                     else studies)]),
        ("INSERT INTO weight (\"index\", rsid, genotype, weight, genotype_specific_conclusion, state, zygosity) "
         "VALUES (?, ?, ?, ?, ?, 'alt', 'het')", [(i, *r) for i, r in enumerate(weights)])])


def vo2max(path: Path, *, rsids=None, weights=None) -> Path:
    return lmfixture.write_sqlite(path, VO2MAX_SCHEMA, [
        ("INSERT INTO rsid VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         [(i, *r) for i, r in enumerate(VO2MAX_RSIDS if rsids is None else rsids)]),
        ("INSERT INTO genotype_weights (\"index\", rsID, genotype, weight, genotype_specific_conclusion, state) "
         "VALUES (?, ?, ?, ?, ?, 'ref')", [(i, *r) for i, r in enumerate(VO2MAX_WEIGHTS if weights is None else weights)])])


def coronary(path: Path, *, rows=None) -> Path:
    rows = CORONARY_ROWS if rows is None else rows
    return lmfixture.write_sqlite(path, CORONARY_SCHEMA, [(
        "INSERT INTO coronary_disease (id, rsID, Gene, Ref_allele, Alt_allele, Genotype, Conclusion, Weight, PMID, "
        "Population, GWAS_study_design, P_value, zygosity, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'European', "
        "'GWAS of CAD cases and controls', '[PMID 17478681]: 1 x 10-7', ?, ?)",
        [(i + 1, *r) for i, r in enumerate(rows)])])


def superhuman(path: Path, *, rows=None) -> Path:
    rows = SUPERHUMAN_ROWS if rows is None else rows
    return lmfixture.write_sqlite(path, SUPERHUMAN_SCHEMA, [(
        'INSERT INTO superhuman (rsid, gene, location_38, ref_allele, alt_allele, genotype, zygosity, superability, '
        'adverse_effects, "references") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', rows)])


def drugs(path: Path, *, rows=None) -> Path:
    rows = DRUGS_ROWS if rows is None else rows
    lines = ["\t".join(DRUGS_HEADER)]
    for aid, variant, drug, category, significance, sentence, p in rows:
        lines.append("\t".join([aid, variant, drug, category, significance, sentence, "", "", p, "OR", "", "", ""]))
    common.atomic_write(Path(path), ("\n".join(lines) + "\n").encode())
    return Path(path)


def longevitymap(path: Path, **rows) -> Path:
    return lmfixture.build_sqlite(path, **rows)


BUILDERS = {"longevitymap": longevitymap, "lipidmetabolism": lipidmetabolism, "vo2max": vo2max,
            "coronary": coronary, "superhuman": superhuman, "drugs": drugs}


def build_source(module: str, path: Path, **rows) -> Path:
    """Write module's synthetic source to ``path`` (rows default to the demo rows above)."""
    return BUILDERS[module](Path(path), **rows)


def png(size: int = 8, rgb: tuple[int, int, int] = (33, 186, 69)) -> bytes:
    """A small valid PNG of one colour (a module logo for the demo)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def build_all(root: Path) -> dict[str, Path]:
    """Every module's synthetic source at root/<module>/<its file name>, and a logo.png for
    each module whose module.toml names a logo. Returns {module: source path}."""
    out = {}
    for name, module in moduledef.all_modules().items():
        if name not in BUILDERS:
            continue
        out[name] = build_source(name, root / name / module.source["file"])
        if module.meta.get("logo"):
            color = tuple(int(module.meta["color"].lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
            (root / name / "logo.png").write_bytes(png(rgb=color))
    return out


# --- a real source's rsids as Ensembl-shaped records --------------------------------------------

def implied_records(module: str, path: Path, chrom: str = "1", start: int = 1_000_000) -> list[dict]:
    """One record per rsid of a source, its alleles those the source names (ref/alt columns,
    genotypes, sentences), so a real source can be run without the real Ensembl set:
    {chrom, pos, id, ref, alts}. Positions are made up, one every 10 bases."""
    alleles: dict[str, list[str]] = defaultdict(list)

    def add(rsid, *bases) -> None:
        rsid = (rsid or "").strip().lower()
        if re.fullmatch(r"rs\d+", rsid):
            for b in bases:
                for one in re.findall(r"[ACGT]", (b or "").upper()):
                    if one not in alleles[rsid]:
                        alleles[rsid].append(one)

    if module == "drugs":
        lines = Path(path).read_text().splitlines()
        head = lines[0].split("\t")
        for line in lines[1:]:
            row = dict(zip(head, line.split("\t")))
            named = re.findall(r"\b(?:Genotypes?|Alleles?|genotypes?|alleles?) ((?:[ACGT]/?[ACGT]?(?: \+ )?)+)\b",
                               row.get("Sentence", ""))
            add(row.get("Variant/Haplotypes"), *named)
    else:
        queries = {
            "longevitymap": "SELECT rsid, allele FROM allele_weights ORDER BY state <> 'ref', id",
            "lipidmetabolism": "SELECT rsid, ref_allele, alt_allele FROM rsids UNION ALL SELECT rsid, genotype, NULL "
                               "FROM weight",
            "vo2max": "SELECT rsid, ref_allele, alt_allele FROM rsid UNION ALL SELECT rsID, genotype, NULL "
                      "FROM genotype_weights",
            "coronary": "SELECT rsID, Ref_allele, Alt_allele, Genotype FROM coronary_disease",
            "superhuman": "SELECT rsid, ref_allele, alt_allele, genotype FROM superhuman",
        }
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for row in con.execute(queries[module]):
                add(row[0], *[str(v) for v in row[1:] if v is not None])
        finally:
            con.close()
    records = []
    for i, (rsid, bases) in enumerate(sorted(alleles.items())):
        bases = bases + [b for b in "ACGT" if b not in bases][: max(0, 2 - len(bases))]
        records.append({"chrom": chrom, "pos": start + 10 * i, "id": rsid, "ref": bases[0], "alts": bases[1:]})
    return records


def main(out: Path = typer.Argument(..., help="Directory to write <module>/<source> (and logo.png) into")) -> None:
    """Write every module's synthetic source."""
    for name, path in build_all(out).items():
        common.say(f"{name}: {path}")


if __name__ == "__main__":
    typer.run(main)

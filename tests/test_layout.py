"""The house rules of the code layout: the pipeline's steps (scripts/, ui/) never import
the dev tools (scripts/dev/), and imports among the pipeline's modules run one way (no
module imports one that imports it back). Read from the source (every import statement,
also those inside functions), so a late import cannot hide."""

from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

from helpers import ROOT

SCRIPTS = ROOT / "scripts"
DEV = SCRIPTS / "dev"


def imported(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, wherever the import statement is."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def pipeline_files() -> list[Path]:
    return sorted(SCRIPTS.glob("*.py")) + sorted((ROOT / "ui").glob("*.py"))


def test_dev_tools_live_apart_from_the_pipeline():
    dev = {p.stem for p in DEV.glob("*.py")}
    assert {"mirror", "synthvcf", "lmfixture", "demo", "vcfbench", "lmbench", "statusbench"} <= dev
    clash = dev & {p.stem for p in SCRIPTS.glob("*.py")}
    assert not clash, f"a dev tool and a pipeline step share a name: {clash}"


def test_no_pipeline_step_imports_a_dev_tool():
    dev = {p.stem for p in DEV.glob("*.py")}
    offenders = {str(p.relative_to(ROOT)): sorted(imported(p) & dev) for p in pipeline_files()}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"pipeline files import dev tools: {offenders}"
    for path in pipeline_files():  # nor put scripts/dev on sys.path to do it some other way
        assert not re.search(r"sys\.path.*\bdev\b", path.read_text()), f"{path} puts scripts/dev on sys.path"


def test_the_checker_sees_a_late_import(tmp_path):
    """The check above can fail: an import inside a function is found."""
    f = tmp_path / "x.py"
    f.write_text("def f():\n    import mirror\n    from synthvcf import write_vcf\n")
    assert {"mirror", "synthvcf"} <= imported(f)


def test_pipeline_imports_run_one_way():
    own = {p.stem: p for p in SCRIPTS.glob("*.py")}
    graph = {name: imported(path) & own.keys() - {name} for name, path in own.items()}
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
    assert not graph["config"], "config.py is the bottom: it imports none of the scripts"
    assert graph["common"] <= {"config"}, "common.py imports only config.py"

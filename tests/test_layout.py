"""The core apart from the lab: benchmarks, results suites, the sweep-summary command and research checks live in
``ganforge.lab``, which may import the core; nothing in the core imports the lab, not even inside a function."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "ganforge"
LAB = PACKAGE / "lab"


def module_name(path: Path) -> str:
    """``src/ganforge/metrics/suite.py`` -> ``ganforge.metrics.suite``; a package's ``__init__.py`` -> the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Every module the source imports, absolute (relative imports resolved against ``module``), with its line:
    ``import`` and ``from ... import`` statements anywhere (module level, functions, branches), ``from package
    import name`` counted as ``package.name`` too (``name`` may be a submodule), and ``importlib.import_module`` /
    ``__import__`` of a literal name."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            origin = ".".join([*base, *([node.module] if node.module else [])])
            found.append((node.lineno, origin))
            found += [(node.lineno, f"{origin}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func
            name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return found


def lab_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports of ``ganforge.lab`` (or anything in it) in the source, as ``line: module``."""
    return [
        f"{line}: {name}"
        for line, name in imported_modules(source, module, is_package)
        if name == "ganforge.lab" or name.startswith("ganforge.lab.")
    ]


def core_files() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if LAB not in path.parents)


def test_the_core_never_imports_the_lab() -> None:
    files = core_files()
    assert PACKAGE / "train.py" in files and PACKAGE / "metrics" / "suite.py" in files and len(files) > 30
    offenders = [
        f"{path.relative_to(ROOT)}:{found}"
        for path in files
        for found in lab_imports(path.read_text(), module_name(path), path.name == "__init__.py")
    ]
    assert offenders == []


def test_the_lab_is_one_package_holding_the_benchmarks_results_and_research_checks() -> None:
    assert (LAB / "__init__.py").is_file() and (LAB / "results" / "__init__.py").is_file()
    for name in ("bench.py", "bench_data.py", "bench_loop.py", "bench_run.py", "labelfree_check.py", "sweeps.py"):
        assert (LAB / name).is_file(), name
    moved = ["bench.py", "bench_data.py", "bench_loop.py", "bench_run.py", "results", "metrics/labelfree_check.py"]
    assert [name for name in moved if (PACKAGE / name).exists()] == []
    # the lab does import the core (what it measures): the rule is a direction, not isolation
    bench = imported_modules((LAB / "bench.py").read_text(), "ganforge.lab.bench")
    assert any(name.startswith("ganforge.train") for _, name in bench)


def test_nothing_under_src_imports_the_tests_or_pytest() -> None:
    """Test fixtures (fault injection, data files) live in tests/, never in the package."""
    offenders = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, name in imported_modules(path.read_text(), module_name(path), path.name == "__init__.py")
        if name.split(".")[0] in ("tests", "pytest", "_pytest", "conftest")
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import ganforge.lab", "ganforge.train"),
        ("import ganforge.lab.bench as bench", "ganforge.train"),
        ("import os, ganforge.lab.results", "ganforge.train"),
        ("from ganforge.lab import bench", "ganforge.train"),
        ("from ganforge.lab.results.runner import Run", "ganforge.train"),
        ("from ganforge import gan, lab", "ganforge.train"),
        ("def cli():\n    if True:\n        from ganforge.lab.bench import cli\n", "ganforge.train"),
        ("class A:\n    def f(self):\n        import ganforge.lab.sweeps\n", "ganforge.sweeps"),
        ("from . import lab", "ganforge.train"),
        ("from .lab.bench import cli", "ganforge.train"),
        ("from .. import lab", "ganforge.metrics.suite"),
        ("from ..lab import labelfree_check", "ganforge.metrics.labelfree"),
        ("import importlib\nimportlib.import_module('ganforge.lab.bench')", "ganforge.train"),
        ("__import__('ganforge.lab')", "ganforge.train"),
    ],
)
def test_the_check_finds_an_import_of_the_lab_in_any_form(source: str, module: str) -> None:
    assert len(lab_imports(source, module)) >= 1


def test_the_check_resolves_a_packages_relative_imports_from_the_package_itself() -> None:
    found = lab_imports("from .lab import bench", "ganforge", is_package=True)
    assert found == ["1: ganforge.lab", "1: ganforge.lab.bench"]
    assert lab_imports("from .lab import bench", "ganforge.metrics", is_package=True) == []


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import ganforge.labels", "ganforge.train"),
        ("from ganforge import labelled", "ganforge.train"),
        ("from ganforge.metrics import labelfree", "ganforge.metrics.suite"),
        ("from . import labelfree", "ganforge.metrics.suite"),
        ("from .lab import x", "ganforge.metrics.suite"),  # ganforge.metrics.lab: not the lab
        ("target = 'ganforge.lab.sweeps.SweepSummary'  # a config string, not an import", "ganforge.train"),
        ("import lab", "ganforge.train"),
    ],
)
def test_the_check_lets_everything_else_through(source: str, module: str) -> None:
    assert lab_imports(source, module) == []

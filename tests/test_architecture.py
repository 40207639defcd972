"""The package's layering, checked on the source: packages import each other's public names
only, the dependency graph between top-level packages has no cycle, the metrics are a leaf,
and files stay small. Every ``import`` counts, including those inside functions and
``TYPE_CHECKING`` blocks (a deprecated alias that forwards an old name by ``importlib`` at first
use is not an import, and is tested where it is defined)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import phenocast

ROOT = Path(phenocast.__file__).parent
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
#: STYLE.md 14 / issue 14: longer is asking to be simplified or split along a real seam.
MAX_MODULE_LINES, MAX_SCRIPT_LINES = 600, 300


def _imports() -> list[tuple[str, str, int, list[str]]]:
    """``(source package, file, line, imported module path)`` for every phenocast import."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        is_init = parts[-1] == "__init__"
        module = ["phenocast", *(parts[:-1] if is_init else parts)]
        package = module[1] if len(module) > 1 else ""
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[list[str]] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module if is_init else module[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    target = base + (node.module.split(".") if node.module else [])
                else:
                    target = (node.module or "").split(".")
                if target == ["phenocast"]:  # from phenocast import data, ...
                    targets = [[*target, a.name] for a in node.names]
                else:
                    targets = [target]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".") for a in node.names]
            for target in targets:
                if target[0] == "phenocast" and len(target) > 1:
                    found.append((package, str(path.relative_to(ROOT)), node.lineno, target))
    return found


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_package_imports_another_packages_private_modules():
    bad = [
        f"{file}:{line} imports {'.'.join(target)}"
        for package, file, line, target in _imports()
        if target[1] != package and any(_is_private(p) for p in target[1:])
    ]
    assert not bad, "private modules imported across packages:\n" + "\n".join(bad)


def test_no_import_cycle_between_top_level_packages():
    graph: dict[str, set[str]] = defaultdict(set)
    for package, _, _, target in _imports():
        if package and target[1] != package and not _is_private(target[1]):
            graph[package].add(target[1])

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    return [*path, start]
                if nxt not in path:
                    stack.append((nxt, [*path, nxt]))
        return None

    cycles = [" -> ".join(c) for p in sorted(graph) if (c := cycle_from(p)) is not None]
    assert not cycles, "import cycles between packages:\n" + "\n".join(cycles)


def test_metrics_are_a_leaf():
    uses = sorted(
        {target[1] for package, _, _, target in _imports() if package == "metrics"} - {"metrics"}
    )
    assert not uses, f"phenocast.metrics imports {uses}; it must import no other package"


def test_the_report_layer_sits_above_evaluate_and_plot():
    uses = {t[1] for p, _, _, t in _imports() if p in ("evaluate", "plot")}
    assert "report" not in uses and "cli" not in uses


def test_the_checks_see_real_imports():
    # the walker finds the imports it is meant to police (else the tests above pass vacuously)
    targets = {(p, ".".join(t[:2])) for p, _, _, t in _imports()}
    assert ("models", "phenocast.data") in targets
    assert ("screen", "phenocast.models") in targets


def test_tests_reach_into_the_private_modules_of_their_own_package_only():
    tests = Path(__file__).parent
    bad = []
    for path in sorted(tests.rglob("test_*.py")):
        rel = path.relative_to(tests).parts
        own = rel[0] if len(rel) > 1 else None
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                parts = node.module.split(".")
                if parts[0] == "phenocast" and len(parts) > 2 and _is_private(parts[2]):
                    if parts[1] != own:
                        bad.append(f"{path.relative_to(tests)}:{node.lineno} {node.module}")
    assert not bad, "tests importing another package's private modules:\n" + "\n".join(bad)


def test_benchmark_scripts_use_the_public_api_only():
    # the scripts show users what the package can do: they import what a user can import
    bad = []
    for path in sorted(BENCHMARKS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] == "phenocast" and any(_is_private(p) for p in parts[1:]):
                    bad.append(f"benchmarks/{path.name}:{node.lineno} {name}")
    assert not bad, "benchmark scripts importing private modules:\n" + "\n".join(bad)


def _longer_than(root: Path, paths: list[Path], limit: int) -> list[str]:
    lengths = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in paths}
    return [f"{root.name}/{p.relative_to(root)}: {n}" for p, n in lengths.items() if n > limit]


def test_no_source_module_or_benchmark_script_is_too_long():
    modules, scripts = sorted(ROOT.rglob("*.py")), sorted(BENCHMARKS.glob("*.py"))
    assert len(modules) > 50 and len(scripts) > 10  # the globs see the real trees
    bad = _longer_than(ROOT, modules, MAX_MODULE_LINES)
    bad += _longer_than(BENCHMARKS, scripts, MAX_SCRIPT_LINES)
    assert not bad, (
        f"files over the limits ({MAX_MODULE_LINES} lines a module, {MAX_SCRIPT_LINES} a "
        "benchmark script): simplify them, or split them along a real seam:\n" + "\n".join(bad)
    )

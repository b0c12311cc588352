"""The package's layers: no import cycle, nothing below ``cli`` imports it, the networks import
nothing of the layers built on them, data imports no training, and only the Lightning parts pull
Lightning in. Read from the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "scgan_lightning"
# ``python -m scgan_lightning.train`` etc. and ``python -m scgan_lightning.app``: the commands'
# entry modules, above every layer.
COMMANDS = ("train", "predict", "evaluate", "report", "export", "build_set")
ENTRY_SHIMS = {f"scgan_lightning.{name}" for name in COMMANDS} | {"scgan_lightning.app.__main__"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = importer if MODULES[importer].name == "__init__.py" else importer.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _import_nodes(name: str, top_level: bool) -> list[ast.stmt]:
    tree = ast.parse(MODULES[name].read_text())
    return list(tree.body) if top_level else list(ast.walk(tree))


def _imports(name: str, top_level: bool = False) -> set[str]:
    """The project modules ``name`` imports, anywhere in it (functions included), or only when
    it is imported (``top_level``)."""
    found: set[str] = set()
    for node in _import_nodes(name, top_level):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # ``from pkg import module`` imports the module; ``from pkg import name``, pkg.
            base = _resolve(name, node)
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


GRAPH = {name: _imports(name) for name in MODULES}
AT_IMPORT = {name: _imports(name, top_level=True) for name in MODULES}


def _cycle_from(start: str) -> list[str] | None:
    """A path of imports from ``start`` back to itself, if there is one."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for target in GRAPH[node]:
            if target == start:
                return [*path, start]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_the_graph_sees_relative_and_nested_imports():
    assert "scgan_lightning.inference.restorer" in GRAPH["scgan_lightning.evaluation.paired"]
    assert "scgan_lightning.inference.trainer" in GRAPH["scgan_lightning.inference.job"]
    assert GRAPH["scgan_lightning.train"] == {"scgan_lightning.cli.train"}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_cycle(name: str):
    assert _cycle_from(name) is None, " -> ".join(_cycle_from(name) or [])


def test_nothing_below_cli_imports_it():
    below = [n for n in MODULES if not n.startswith("scgan_lightning.cli") and n not in ENTRY_SHIMS]
    offenders = {n: t for n in below for t in GRAPH[n] if t.startswith("scgan_lightning.cli")}
    assert not offenders


def test_the_networks_import_nothing_built_on_them():
    upper = ("training", "inference", "evaluation", "data", "cli", "metrics")
    forbidden = tuple(f"scgan_lightning.{layer}" for layer in upper)
    nets = [n for n in MODULES if n.startswith("scgan_lightning.nets")]
    offenders = {n: t for n in nets for t in GRAPH[n] if t.startswith(forbidden)}
    assert not offenders


def test_data_imports_no_layer_built_on_it():
    upper = ("training", "inference", "evaluation", "cli")
    forbidden = tuple(f"scgan_lightning.{layer}" for layer in upper)
    data = [n for n in MODULES if n.startswith("scgan_lightning.data")]
    offenders = {n: t for n in data for t in GRAPH[n] if t.startswith(forbidden)}
    assert not offenders


# The modules that are Lightning: training, the DataModules, the Lightning predict path and the
# train command. Nothing else may import Lightning, or reach one of these, when it is imported:
# predict, evaluate, report and export start without it (a few seconds of import time).
LIGHTNING = ("scgan_lightning.training", "scgan_lightning.cli.train", "scgan_lightning.train")
LIGHTNING_MODULES = {"scgan_lightning.data.datamodule", "scgan_lightning.inference.trainer"}


def _is_lightning(name: str) -> bool:
    return name.startswith(LIGHTNING) or name in LIGHTNING_MODULES


def _imports_lightning_itself(name: str) -> bool:
    for node in _import_nodes(name, top_level=True):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        else:
            continue
        if any(
            n.split(".")[0] in ("pytorch_lightning", "lightning", "lightning_fabric") for n in names
        ):
            return True
    return False


LIGHTNING_ITSELF = {name for name in MODULES if _imports_lightning_itself(name)}


def _reaches_lightning(start: str) -> list[str] | None:
    """A chain of import-time imports from ``start`` to a Lightning module, if there is one."""
    stack, seen = [(start, [start])], {start}
    while stack:
        node, path = stack.pop()
        if _is_lightning(node) or node in LIGHTNING_ITSELF:
            return path
        for target in AT_IMPORT[node] - seen:
            seen.add(target)
            stack.append((target, [*path, target]))
    return None


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not _is_lightning(n)))
def test_only_the_lightning_parts_import_lightning(name: str):
    chain = _reaches_lightning(name)
    assert chain is None, " -> ".join(chain or [])

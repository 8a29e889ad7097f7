"""The import-cycle check that `make test` runs (tools/import-cycles) finds what it must."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path
from types import ModuleType

import grimp

TOOL = Path(__file__).resolve().parents[2] / "tools" / "import-cycles"


def load_tool() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("import_cycles", str(TOOL))
    spec = importlib.util.spec_from_loader("import_cycles", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def graph(*imports: tuple[str, str]) -> grimp.ImportGraph:
    g = grimp.ImportGraph()
    for importer, imported in imports:
        g.add_import(importer=importer, imported=imported)
    return g


def test_a_cycle_through_several_modules_is_found_and_named() -> None:
    tool = load_tool()
    g = graph(("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "d"))
    assert tool.cycles(g) == [["a", "b", "c"]]


def test_two_modules_importing_each_other_are_a_cycle_and_a_chain_is_not() -> None:
    tool = load_tool()
    assert tool.cycles(graph(("x", "y"), ("y", "x"))) == [["x", "y"]]
    assert tool.cycles(graph(("x", "y"), ("y", "z"))) == []


def test_edgebox_has_no_import_cycle() -> None:
    tool = load_tool()
    assert tool.cycles(grimp.build_graph("edgebox")) == []

"""The package's shape: no import cycles, each layer imports only the layers below it, every module
imports alone, and importing has no side effects (docs/architecture.md says who may import whom)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).parents[2]
PKG = ROOT / "testbed"

# Who may import whom at run time (imports under `if TYPE_CHECKING:` are types only and not counted).
# A package is listed with everything it may import; top-level modules are their own "package".
LAYERS: dict[str, set[str]] = {
    "errors": set(),
    "interrupts": set(),
    "units": {"errors"},
    "linkparams": {"errors", "units"},
    "textfile": {"errors"},
    "safewrite": {"errors"},                                 # every file written: checked folder, atomic
    "stats": set(),
    "energy": set(),                                          # pure: sun, panel, battery
    "netenv": {"errors"},
    "yamlsource": {"errors", "textfile"},
    "probe": {"errors"},
    "procs": set(),
    "partition": set(),                                      # pure: weighted graph over bins (cluster, engine shards)
    "topology": {"errors", "units", "linkparams", "yamlsource", "netenv"},
    "options": {"errors", "units", "topology"},
    "network": {"topology"},
    "engine": {"errors", "units", "linkparams", "textfile", "safewrite", "probe", "procs", "partition"},
    "traffic": {"errors", "units", "options", "stats", "probe", "procs", "safewrite"},
    "faults": {"errors", "units", "linkparams", "options", "topology", "energy"},
    "results": {"errors", "textfile", "safewrite", "netenv", "stats", "traffic",   # traffic: the metric table; runner types only
                "engine"},   # engine: the capacity estimate the manifest records
    "scenario": {"errors", "units", "textfile", "yamlsource", "topology", "options", "network", "traffic", "faults", "results",
                 "stats", "netenv", "interrupts"},
    "viz": {"errors", "units", "linkparams", "topology"},
    "report": {"errors", "units", "textfile", "safewrite", "topology", "viz", "results", "stats", "traffic"},
    "emulation": {"errors", "units", "linkparams", "topology", "network", "engine", "netenv", "probe", "procs",
                  "interrupts", "safewrite"},
    "experiment": {"errors", "units", "linkparams", "yamlsource", "topology", "scenario", "traffic", "results",
                   "emulation", "stats", "netenv", "interrupts", "safewrite",
                   "cluster"},   # cluster: the inventory and ssh masters a sweep is spread over (spread.py)
    "live": {"errors", "textfile", "topology", "viz", "faults", "scenario", "results", "report"},   # the browser view
    "cluster": {"errors", "units", "yamlsource", "topology", "partition",   # inventory, placement, server checks (issue 27)
                "linkparams", "network", "emulation", "traffic", "interrupts"},   # a network spread over servers: an agent's Testbed,
                                                                    # readiness judged here, the metrics' clocks
    "pytest_plugin": {"errors", "topology", "scenario", "results", "emulation", "probe"},
    "cli": {"errors", "probe", "units", "linkparams", "yamlsource", "topology", "scenario", "results", "report", "viz",
            "emulation", "engine", "stats", "netenv", "experiment", "interrupts", "live", "safewrite",
            "cluster"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = p.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement (at any depth, deferred ones too) outside `if TYPE_CHECKING:` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)
    visit(tree)
    return found


def import_graph() -> nx.DiGraph:
    mods = _modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name)
        pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t and t not in mods:        # `import testbed.x.y` names a module or its package
                    t = t.rpartition(".")[0]
                if t and t != name:
                    g.add_edge(name, t)
    return g


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "testbed"


def test_no_module_imports_itself_in_a_circle():
    cycles = list(nx.simple_cycles(import_graph()))
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c + c[:1]) for c in cycles)


def test_each_layer_imports_only_what_it_may():
    wrong = []
    for a, b in import_graph().edges:
        la, lb = _layer(a), _layer(b)
        if la == lb or lb == "testbed":
            continue
        assert la in LAYERS, f"{a}: package {la!r} has no entry in LAYERS (add it, and to docs/architecture.md)"
        if lb not in LAYERS[la]:
            wrong.append(f"{a} imports {b} ({la} may import: {', '.join(sorted(LAYERS[la])) or 'nothing'})")
    assert wrong == []


def test_the_layers_themselves_have_no_cycle():
    g = nx.DiGraph([(a, b) for a, bs in LAYERS.items() for b in bs])
    assert list(nx.simple_cycles(g)) == []


# Imports every module in a fresh interpreter, one after another, each with the package forgotten
# first (third-party modules stay loaded: that is what keeps this to a second or two). A module that
# only imports after another one did, or that changes the process when imported, fails here.
_PROBE = r"""
import importlib, json, signal, sys
import matplotlib
before_backend = matplotlib.get_backend()
rc_before = dict(matplotlib.rcParams)
handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
problems = []
for name in json.loads(sys.argv[1]):
    # Compiled (mypyc) engine modules stay: an extension module initialises once per process.
    for m in [m for m in sys.modules if (m == "testbed" or m.startswith("testbed."))
              and not (getattr(sys.modules[m], "__file__", None) or "").endswith(".so")]:
        del sys.modules[m]
    try:
        importlib.import_module(name)
    except Exception as e:
        problems.append(f"{name}: {type(e).__name__}: {e}")
        continue
    if matplotlib.get_backend() != before_backend or dict(matplotlib.rcParams) != rc_before:
        problems.append(f"{name}: importing it changed matplotlib's global settings")
        matplotlib.rcParams.update(rc_before)
    now = {s: signal.getsignal(s) for s in handlers}
    if now != handlers:
        problems.append(f"{name}: importing it installed signal handlers")
        for s, h in handlers.items():
            signal.signal(s, h)
print(json.dumps(problems))
"""


def test_every_module_imports_alone_without_side_effects():
    names = [m for m in _modules() if not m.endswith(".__main__")]   # __main__ runs the CLI
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(names)], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []

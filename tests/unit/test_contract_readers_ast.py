"""Nothing outside testbed/results/ parses results.json, manifest.json, experiment.json or summary.json itself:
every reader goes through testbed.results.documents (an AST scan of testbed/, bench/ and examples/)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("testbed", "bench", "examples")
ALLOWED = ("testbed", "results")                 # the one package that may
NAMES = ("results.json", "manifest.json", "experiment.json", "summary.json")
NAME_CONSTANTS = ("RESULTS_FILE", "MANIFEST_FILE", "EXPERIMENT_FILE", "SUMMARY_FILE")
PARSERS = {"load", "loads"}                      # json.load(s), orjson.loads, from json import loads
READS = {"read_text", "read_bytes", "open"}      # Path.read_text(), textfile.read_bytes(p), open(p)


def _names_a_document(node: ast.AST) -> bool:
    """The expression spells one of the file names: a string constant ending in it, or a *_FILE constant."""
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.endswith(NAMES):
            return True
        if isinstance(n, ast.Name) and n.id in NAME_CONSTANTS:
            return True
        if isinstance(n, ast.Attribute) and n.attr in NAME_CONSTANTS:
            return True
    return False


def _path_constants(fn: ast.AST) -> bool:
    """The function holds a document's name as a value of its own (not words inside a message)."""
    in_fstrings = {id(v) for n in ast.walk(fn) if isinstance(n, ast.JoinedStr) for v in n.values}
    docstrings = {id(b.body[0].value) for b in ast.walk(fn)
                  if isinstance(b, ast.FunctionDef | ast.AsyncFunctionDef | ast.Module | ast.ClassDef)
                  and b.body and isinstance(b.body[0], ast.Expr) and isinstance(b.body[0].value, ast.Constant)}
    skip = in_fstrings | docstrings
    return any((isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip
                and n.value.endswith(NAMES)) or (isinstance(n, ast.Name) and n.id in NAME_CONSTANTS)
               for n in ast.walk(fn))


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def violations(path: Path, rel: str) -> Iterator[str]:
    """file:line: what, for each place the file parses one of the documents itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)]
    named = {id(s) for s in scopes if _path_constants(s)}
    module_named = _path_constants(tree)

    def enclosing(node: ast.AST) -> ast.AST | None:
        inner = [s for s in scopes if any(n is node for n in ast.walk(s))]
        return min(inner, key=lambda s: len(list(ast.walk(s)))) if inner else None

    # a function of this file that parses JSON, called with a document's path, is a parser too
    local_parsers = {s.name for s in scopes if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef)
                     and any(isinstance(n, ast.Call) and _callee(n) in PARSERS for n in ast.walk(s))}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        what = ast.unparse(node)[:100]
        if name in PARSERS or name in local_parsers:
            scope = enclosing(node)
            scope_named = id(scope) in named if scope is not None else module_named
            if any(_names_a_document(a) for a in node.args) or scope_named:
                yield f"{rel}:{node.lineno}: {what}"
        elif name in READS:
            target = [node.func.value] if isinstance(node.func, ast.Attribute) else []
            if any(_names_a_document(a) for a in [*target, *node.args]):
                yield f"{rel}:{node.lineno}: {what}"


def scan(root: Path = ROOT) -> list[str]:
    out: list[str] = []
    for top in SCANNED:
        for f in sorted((root / top).rglob("*.py")):
            if f.is_relative_to(root.joinpath(*ALLOWED)) or ".venv" in f.parts:
                continue
            out += violations(f, str(f.relative_to(root)))
    return out


def test_no_module_outside_results_parses_the_documents_itself() -> None:
    assert scan() == [], "read them with testbed.results.documents.read_results/read_manifest/..."


def test_the_scan_catches_a_planted_reader(tmp_path: Path) -> None:
    pkg = tmp_path / "testbed" / "report"
    pkg.mkdir(parents=True)
    (pkg / "sneaky.py").write_text(
        "import json\n"
        "from json import loads\n"
        "from pathlib import Path\n"
        "\n"
        "def direct(d: Path):\n"
        '    return json.loads((d / "results.json").read_text())\n'
        "\n"
        "def two_steps(out: Path):\n"
        '    f = out / "experiment.json"\n'
        "    text = f.read_text()\n"
        "    return loads(text)\n"
        "\n"
        "def by_constant(d: Path):\n"
        "    with open(d / MANIFEST_FILE) as fh:\n"
        "        return json.load(fh)\n"
        "\n"
        "def _load(path):\n"
        "    return json.loads(path.read_bytes())\n"
        "\n"
        "def through_a_helper(d: Path):\n"
        '    return _load(d / "summary.json")\n'
        "\n"
        "def fine(d: Path, k: str):\n"
        '    """Reads results.json through the contract; a key is parsed here."""\n'
        '    note = f"{d}: no summary.json here"\n'
        "    return json.loads(k), note\n")
    (tmp_path / "testbed" / "results").mkdir()
    (tmp_path / "testbed" / "results" / "documents.py").write_text(
        'import json\n\ndef read(d):\n    return json.loads((d / "results.json").read_text())\n')
    found = sorted(scan(tmp_path), key=lambda v: int(v.split(':')[1]))
    assert found == [
        'testbed/report/sneaky.py:6: json.loads((d / \'results.json\').read_text())',
        "testbed/report/sneaky.py:6: (d / 'results.json').read_text()",
        "testbed/report/sneaky.py:11: loads(text)",
        "testbed/report/sneaky.py:14: open(d / MANIFEST_FILE)",
        "testbed/report/sneaky.py:15: json.load(fh)",
        "testbed/report/sneaky.py:21: _load(d / 'summary.json')",
    ]

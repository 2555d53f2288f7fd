"""Python scenarios: a module with a `scenario` dict (the YAML keys) and `timeline(tb, at)`.

    scenario = {"name": "x", "topology": "../topologies/t.yaml", "duration": "30s",
                "traffic": [...], "expect": [...]}

    def timeline(tb, at):
        at("10s", tb.link_down, "a--b")          # call tb.link_down("a--b") at t=10 s
        at("20s", tb.link_up, "a--b", label="repair")

`timeline` is called once when the run starts, with the running Testbed; `at` queues calls on
the scenario clock (times are strings like "20s" or seconds, scaled by --time-scale).

Running a Python scenario imports it: its module-level code runs as root under `testbed run` and
`testbed experiment`. Treat a .py scenario like any program you run. `testbed validate` never imports
it: parse_python_scenario reads the module's syntax tree, takes `scenario` from a literal assignment
and checks that `timeline` is a function, so inspecting a file never runs it (docs/security.md). An
exception or sys.exit() at import is reported as a problem of the file.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError, Problem, StepFailed, TestbedError, excerpt
from ..textfile import read_text
from ..yamlsource import Source


def _line_in(e: BaseException, path: Path) -> int:
    """The line of `path` the exception came through last (0 when it did not)."""
    line, tb = 0, e.__traceback__
    target = str(path.resolve())
    while tb is not None:
        if str(Path(tb.tb_frame.f_code.co_filename).resolve()) == target:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def call_user(fn: Callable[..., Any], path: Path, what: str, *args: Any, **kw: Any) -> Any:
    """Call the scenario's own code; an exception in it (not Ctrl-C, not ours) becomes a StepFailed
    naming the file and line it came from, so the run ends as an error with its results kept."""
    try:
        return fn(*args, **kw)
    except (TestbedError, KeyboardInterrupt):
        raise
    except Exception as e:  # noqa: BLE001 - the user's code can raise anything; it is reported, never a crash
        line = _line_in(e, path)
        where = f"{path}:{line}" if line else str(path)
        raise StepFailed(f"{where}: {what} raised {type(e).__name__}: {excerpt(str(e))}") from e


def read_python_scenario(path: Path) -> tuple[Source, Callable[..., Any] | None]:
    """The module's `scenario` dict (to build like a YAML file) and its `timeline` function."""
    name = f"testbed_scenario_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None or not path.is_file():
        raise InputError([Problem(str(path), 0, 0, "", "no such file")])
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        raise InputError([Problem(str(path), e.lineno or 0, e.offset or 0, "", f"invalid Python: {e.msg}")]) from None
    except (Exception, SystemExit) as e:  # the module failed (or exited) at import: bad input, never a silent exit
        line = _line_in(e, path)
        what = f"{type(e).__name__}: {excerpt(str(e))}" if str(e) else type(e).__name__
        raise InputError([Problem(str(path), line, 1 if line else 0, "", f"importing the scenario failed: {what}")]) \
            from None
    data = getattr(module, "scenario", None)
    fn = getattr(module, "timeline", None)
    problems = []
    if not isinstance(data, dict):
        problems.append(Problem(str(path), 0, 0, "scenario", "a Python scenario defines `scenario = {...}` "
                                "(name, topology, duration, traffic, events, expect)"))
    if fn is not None and not callable(fn):
        problems.append(Problem(str(path), 0, 0, "timeline", "`timeline` must be a function (tb, at)"))
    if problems:
        raise InputError(problems)
    sys.modules.pop(name, None)
    return Source(str(path), data), fn


NEEDS_SCENARIO = "a Python scenario defines `scenario = {...}` (name, topology, duration, traffic, events, expect)"


def parse_python_scenario(path: Path) -> Source:
    """The module's `scenario` dict read from its syntax tree, never by importing it (nothing in it runs).

    `scenario` must be a literal (dicts, lists, strings, numbers) assigned at the module's top level;
    `timeline`, when there, must be a function. Values keep their lines, so problems are located.
    """
    text = read_text(path)        # the careful reader: no FIFO, bounded size, UTF-8 located
    file = str(path)
    try:
        tree = ast.parse(text, filename=file)
    except SyntaxError as e:
        raise InputError([Problem(file, e.lineno or 1, e.offset or 1, "", f"invalid Python: {e.msg}")]) from None
    except (ValueError, RecursionError, MemoryError) as e:   # NUL bytes; nesting too deep for the parser
        raise InputError([Problem(file, 1, 1, "", f"invalid Python: {type(e).__name__}")]) from None
    scenario: tuple[ast.expr | None, ast.AST] | None = None   # the last binding wins, as at import
    timeline: tuple[ast.expr | None, ast.AST] | None = None
    for node in tree.body:
        for name, bound, where in _bindings(node):
            if name == "scenario":
                scenario = (bound, where)
            elif name == "timeline":
                timeline = (bound, where)
    problems: list[Problem] = []
    if scenario is None:
        problems.append(Problem(file, 1, 1, "scenario", NEEDS_SCENARIO))
    elif scenario[0] is None:
        where = scenario[1]
        problems.append(Problem(file, getattr(where, "lineno", 1), getattr(where, "col_offset", 0) + 1, "scenario",
                                "`scenario` must be assigned a dict literal (`scenario = {...}`)"))
    if timeline is not None and isinstance(timeline[0], ast.Constant | ast.Dict | ast.List | ast.Tuple | ast.Set):
        where = timeline[1]
        problems.append(Problem(file, getattr(where, "lineno", 1), getattr(where, "col_offset", 0) + 1, "timeline",
                                "`timeline` must be a function (tb, at)"))
    if problems:
        raise InputError(problems)
    assert scenario is not None and scenario[0] is not None
    value = scenario[0]
    try:
        data = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
        raise InputError([Problem(file, value.lineno, value.col_offset + 1, "scenario",
                                  "`scenario = ...` is not a literal: testbed validate reads Python scenarios "
                                  "without running them, so it checks only a dict written out (strings, numbers, "
                                  "lists, dicts); `testbed validate --import FILE` runs the file's code to check "
                                  "a computed one, as `testbed run` does")]) from None
    if not isinstance(data, dict):
        raise InputError([Problem(file, value.lineno, value.col_offset + 1, "scenario", NEEDS_SCENARIO)])
    src = Source(file, data)
    src.value_marks[()] = (value.lineno, value.col_offset + 1)
    _marks(value, (), src)
    return src


def _bindings(node: ast.stmt) -> list[tuple[str, ast.expr | None, ast.AST]]:
    """(name, value, where) for each name a top-level statement binds; value None when it is bound some
    other way than `name = <expression>` (def, class, import, +=, a = b = ...)."""
    if isinstance(node, ast.Assign):
        single = len(node.targets) == 1
        return [(t.id, node.value if single else None, t) for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [(node.target.id, node.value, node.target)]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return [(node.name, None, node)]
    if isinstance(node, ast.Import | ast.ImportFrom):
        return [((a.asname or a.name).split(".")[0], None, node) for a in node.names]
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        return [(node.target.id, None, node)]
    return []


def _marks(node: ast.expr, path: tuple[Any, ...], src: Source) -> None:
    """Record where each value (and dict key) of the literal sits, as the YAML reader does."""
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values, strict=True):
            if not isinstance(k, ast.Constant) or not isinstance(k.value, str | int | float | bool):
                continue
            p = (*path, k.value)
            src.key_marks[p] = (k.lineno, k.col_offset + 1)
            src.value_marks[p] = (v.lineno, v.col_offset + 1)
            _marks(v, p, src)
    elif isinstance(node, ast.List | ast.Tuple):
        for i, v in enumerate(node.elts):
            p = (*path, i)
            src.value_marks[p] = (v.lineno, v.col_offset + 1)
            _marks(v, p, src)

"""Python scenarios: a module with a `scenario` dict (the YAML keys) and `timeline(tb, at)`.

    scenario = {"name": "x", "topology": "../topologies/t.yaml", "duration": "30s",
                "traffic": [...], "expect": [...]}

    def timeline(tb, at):
        at("10s", tb.link_down, "a--b")          # call tb.link_down("a--b") at t=10 s
        at("20s", tb.link_up, "a--b", label="repair")

`timeline` is called once when the run starts, with the running Testbed; `at` queues calls on
the scenario clock (times are strings like "20s" or seconds, scaled by --time-scale).

Reading a Python scenario imports it: its module-level code runs (under `testbed validate` too, and as
root under `testbed run`). Treat a .py scenario like any program you run; validate untrusted ones as an
unprivileged user. An exception or sys.exit() in it is reported as a problem of the file.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import InputError, Problem, StepFailed, TestbedError, excerpt
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

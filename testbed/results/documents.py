"""The one way in to the run's documents: read_results(), read_manifest(), read_experiment(), read_summary().

Each reader is bounded (a regular file only, never through a symlink, never blocking on a FIFO, at most
MAX_DOC_BYTES, finite numbers only, nesting that would exhaust the stack refused), checks the `schema`
name and version, and checks the document's shape against the TypedDicts in contract.py (their JSON
schema is generated from them, so the declaration and the check cannot drift). Whatever is wrong
comes back as one ContractError naming the file and the JSON path, never a KeyError later.

Keys a reader does not know are allowed (a reader ignores them); the writers' tests check with
strict=True that they write exactly the declared keys.
"""

from __future__ import annotations

import json
import logging
import math
import os
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import (
    Any,
    Literal,
    NotRequired,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

from ..errors import InputError, excerpt, one_line
from ..textfile import read_bytes
from .contract import (
    EXPERIMENT_SCHEMA,
    MANIFEST_SCHEMA,
    RESULTS_SCHEMA,
    SUMMARY_SCHEMA,
    ContractError,
    DocumentMissing,
    ExperimentDoc,
    ManifestDoc,
    ResultsDoc,
    SummaryDoc,
)

log = logging.getLogger(__name__)

MAX_DOC_BYTES = 256 << 20   # results.json of a long run with many links: tens of MB

RESULTS_FILE, MANIFEST_FILE, EXPERIMENT_FILE, SUMMARY_FILE = (
    "results.json", "manifest.json", "experiment.json", "summary.json")

T = TypeVar("T")

_SIMPLE: dict[object, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                              type(None): "null"}


def json_schema(tp: object, strict: bool = False) -> dict[str, Any]:
    """The JSON schema of a contract type: TypedDicts, list[...], dict[str, ...], unions, Literal, scalars.
    strict: no keys beyond the declared ones (what the writers' tests use)."""
    if tp is Any or tp is object:
        return {}
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    if is_typeddict(tp):
        # NotRequired read from the hints themselves: with postponed annotations, Python 3.11's
        # __required_keys__ cannot see it and calls every key required
        hints = get_type_hints(tp, include_extras=True)
        props = {k: json_schema(get_args(v)[0] if get_origin(v) is NotRequired else v, strict)
                 for k, v in hints.items()}
        required = [k for k, v in hints.items() if get_origin(v) is not NotRequired]
        out: dict[str, Any] = {"type": "object", "properties": props, "required": required}
        if strict:
            out["additionalProperties"] = False
        return out
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        return {"enum": list(args)}
    if origin is list:
        return {"type": "array", "items": json_schema(args[0], strict)}
    if origin is dict:
        return {"type": "object", "additionalProperties": json_schema(args[1], strict)}
    if origin in (Union, types.UnionType):
        if all(a in _SIMPLE for a in args):
            return {"type": [_SIMPLE[a] for a in args]}
        return {"anyOf": [json_schema(a, strict) for a in args]}
    raise TypeError(f"no JSON schema for {tp!r}")


class _Bad(Exception):
    """Where (innermost key first, filled in on the way out) and what does not fit."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.where: list[str | int] = []


Check = Callable[[object], None]

_JSON_TYPE = {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number",
              type(None): "null"}


def _json_type(v: object) -> str:
    return _JSON_TYPE.get(type(v), type(v).__name__)


def _scalar(tp: object) -> Check:
    want = _SIMPLE[tp]
    if tp is float:
        def check(v: object) -> None:
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise _Bad(f"expected number, got {_json_type(v)}")
    elif tp is int:
        def check(v: object) -> None:
            if not isinstance(v, int) or isinstance(v, bool):
                raise _Bad(f"expected integer, got {_json_type(v)}")
    else:
        py = cast(type, tp)

        def check(v: object) -> None:
            if type(v) is not py:
                raise _Bad(f"expected {want}, got {_json_type(v)}")
    return check


def _compile(tp: object, strict: bool) -> Check:
    """A checker for one contract type, built once: plain isinstance tests (jsonschema takes 30 s on a
    45 MB results.json; this takes a second or two). json_schema() is the same rule for other tools."""
    if tp is Any or tp is object:
        return lambda v: None
    if tp in _SIMPLE:
        return _scalar(tp)
    if is_typeddict(tp):
        hints = get_type_hints(tp, include_extras=True)
        fields = {k: _compile(get_args(h)[0] if get_origin(h) is NotRequired else h, strict) for k, h in hints.items()}
        required = [k for k, h in hints.items() if get_origin(h) is not NotRequired]

        def check_td(v: object) -> None:
            if not isinstance(v, dict):
                raise _Bad(f"expected object, got {_json_type(v)}")
            for k in required:
                if k not in v:
                    raise _Bad(f'missing "{k}"')
            for k, x in v.items():
                chk = fields.get(k)
                if chk is None:
                    if strict:
                        raise _Bad(f'"{excerpt(str(k))}" is not in the contract')
                    continue
                try:
                    chk(x)
                except _Bad as e:
                    e.where.append(k)
                    raise
        return check_td
    origin, args = get_origin(tp), get_args(tp)
    if origin is Literal:
        allowed = set(args)

        def check_lit(v: object) -> None:
            if not isinstance(v, str) or v not in allowed:
                raise _Bad(f"expected one of {', '.join(json.dumps(a) for a in args)}, "
                           f"got {excerpt(v) if isinstance(v, str) else _json_type(v)}")
        return check_lit
    if origin is list:
        item = _compile(args[0], strict)

        def check_list(v: object) -> None:
            if not isinstance(v, list):
                raise _Bad(f"expected array, got {_json_type(v)}")
            for i, x in enumerate(v):
                try:
                    item(x)
                except _Bad as e:
                    e.where.append(i)
                    raise
        return check_list
    if origin is dict:
        value = _compile(args[1], strict)

        def check_dict(v: object) -> None:
            if not isinstance(v, dict):
                raise _Bad(f"expected object, got {_json_type(v)}")
            for k, x in v.items():
                try:
                    value(x)
                except _Bad as e:
                    e.where.append(k)
                    raise
        return check_dict
    if origin in (Union, types.UnionType):
        alts = [(_json_kinds(a), _compile(a, strict)) for a in args]
        names = " or ".join(sorted({k for kinds, _ in alts for k in kinds}))

        def check_union(v: object) -> None:
            kind = _json_type(v)
            fitting = [chk for kinds, chk in alts if kind in kinds or (kind == "integer" and "number" in kinds)]
            if not fitting:
                raise _Bad(f"expected {names}, got {kind}")
            last: _Bad | None = None
            for chk in fitting:
                try:
                    chk(v)
                    return
                except _Bad as e:
                    last = e
            assert last is not None
            raise last
        return check_union
    raise TypeError(f"no checker for {tp!r}")


def _json_kinds(tp: object) -> set[str]:
    """The JSON types a value of tp can have (to pick the alternative of a union a value is meant for)."""
    if tp is Any or tp is object:
        return set(_JSON_TYPE.values())
    if tp in _SIMPLE:
        return {_SIMPLE[tp]}
    if is_typeddict(tp) or get_origin(tp) is dict:
        return {"object"}
    if get_origin(tp) is list:
        return {"array"}
    if get_origin(tp) is Literal:
        return {"string"}
    return {k for a in get_args(tp) for k in _json_kinds(a)}


@cache
def checker(tp: type, strict: bool = False) -> Check:
    return _compile(tp, strict)


def json_path(parts: Iterable[str | int]) -> str:
    """$.flows.probe.series, $.events[3].kind; keys that are not plain names are quoted."""
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p.replace("_", "a").replace("-", "a").isalnum():
            out += f".{p}"
        else:
            out += f"[{json.dumps(p)}]"
    return out


def _errors(doc: object, tp: type, file: str, strict: bool) -> Iterator[tuple[str, ContractError]]:
    """(top-level key it concerns, error) for each top-level section of doc that departs from tp (the first
    problem in it); doc itself must be an object."""
    if not isinstance(doc, dict):
        yield "", ContractError(file, f"expected a JSON object at the top, got {_json_type(doc)}")
        return
    hints = get_type_hints(tp, include_extras=True)
    for k, h in hints.items():
        if k not in doc:
            if get_origin(h) is not NotRequired:
                yield k, ContractError(file, f'missing "{k}"', "$")
            continue
        try:
            checker(_section(tp, k), strict)(doc[k])
        except _Bad as e:
            yield k, ContractError(file, e.message, json_path([k, *reversed(e.where)]))
    if strict:
        for k in doc:
            if k not in hints:
                yield k, ContractError(file, f'"{excerpt(str(k))}" is not in the contract', "$")


@cache
def _section(tp: type, key: str) -> Any:
    h = get_type_hints(tp, include_extras=True)[key]
    return get_args(h)[0] if get_origin(h) is NotRequired else h


def shape_errors(doc: object, tp: type, file: str, strict: bool = False) -> list[ContractError]:
    """The first problem of each top-level section of doc that does not fit tp."""
    return [err for _, err in _errors(doc, tp, file, strict)]


def check_shape(doc: object, tp: type[T], file: str, strict: bool = False) -> T:
    """doc as tp when it fits (the one checked cast of this package); else a ContractError at the first problem."""
    for _, err in _errors(doc, tp, file, strict):
        raise err
    return cast(T, doc)


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number this contract allows (values are finite)")


MAX_MAGNITUDE = 1e100   # far above any count, rate or time a run records; sums of values near 1e308 overflow to inf


class _OutOfRange(ValueError):
    def __init__(self, text: str):
        super().__init__(f"{text[:40]} is out of range for a number (values are finite, at most {MAX_MAGNITUDE:g} "
                         "in magnitude)")
        self.text = text


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v) or abs(v) > MAX_MAGNITUDE:
        raise _OutOfRange(text)
    return v


def load_json(path: str | Path, max_bytes: int | None = None) -> dict[str, Any]:
    """A JSON object from a bounded read (max_bytes, default MAX_DOC_BYTES): ContractError (DocumentMissing
    when there is no file)."""
    file = str(path)
    max_bytes = MAX_DOC_BYTES if max_bytes is None else max_bytes
    try:
        os.lstat(path)
    except FileNotFoundError:
        raise DocumentMissing(file, "no such file") from None
    except OSError as e:
        raise ContractError(file, f"cannot read it: {e.strerror}") from None
    try:   # never through a symlink: a bundle shows only what is in it
        data = read_bytes(path, max_bytes=max_bytes, follow_symlinks=False)
    except InputError as e:
        raise ContractError(file, e.problems[0].message if e.problems else str(e)) from None
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
    except UnicodeDecodeError as e:
        raise ContractError(file, f"not UTF-8 text (byte {e.start})") from None
    except RecursionError:
        raise ContractError(file, "nested too deeply to read") from None
    except _OutOfRange as e:    # located: the statistics of such values would be inf or NaN
        at = data.find(e.text.encode())
        line = data.count(b"\n", 0, at) + 1
        col = at - (data.rfind(b"\n", 0, at) + 1) + 1
        raise ContractError(file, f"line {line} column {col}: {e}") from None
    except ValueError as e:   # JSONDecodeError says where; int() of a 5000-digit number says why
        raise ContractError(file, f"not JSON: {one_line(str(e), 200)}") from None
    if not isinstance(doc, dict):
        raise ContractError(file, f"expected a JSON object at the top, got {_JSON_TYPE.get(type(doc), 'a value')}")
    return doc


def check_version(doc: dict[str, Any], expected: str, file: str) -> None:
    """`schema` must be expected exactly: another document kind, or another version of this one, is refused."""
    schema = doc.get("schema")
    if not isinstance(schema, str):
        raise ContractError(file, f'no "schema" name: not a document testbed wrote (expected "{expected}")',
                            "$.schema")
    if schema == expected:
        return
    kind = expected.rsplit("/", 1)[0]
    if schema.rsplit("/", 1)[0] != kind:
        raise ContractError(file, f'is a {excerpt(schema)} document, not "{expected}"', "$.schema")
    raise ContractError(file, f'schema {excerpt(schema)}; this testbed reads "{expected}" (it was written by '
                              "another version of testbed: run it again with this one)", "$.schema")


def _read(path: str | Path, expected: str, tp: type[T]) -> T:
    doc = load_json(path)
    check_version(doc, expected, str(path))
    return check_shape(doc, tp, str(path))


def read_results(path: str | Path) -> ResultsDoc:
    """RUN_DIR/results.json (or the file itself) as the contract says; ContractError otherwise."""
    return _read(_file(path, RESULTS_FILE), RESULTS_SCHEMA, ResultsDoc)


def read_manifest(path: str | Path) -> ManifestDoc:
    """RUN_DIR/manifest.json (or the file itself)."""
    return _read(_file(path, MANIFEST_FILE), MANIFEST_SCHEMA, ManifestDoc)


def read_experiment(path: str | Path) -> ExperimentDoc:
    """OUT/experiment.json (or the file itself)."""
    return _read(_file(path, EXPERIMENT_FILE), EXPERIMENT_SCHEMA, ExperimentDoc)


def read_summary(path: str | Path) -> SummaryDoc:
    """summary.json of a set of runs: OUT/summary.json of `run --repeat`, points/<id>/summary.json."""
    return _read(_file(path, SUMMARY_FILE), SUMMARY_SCHEMA, SummaryDoc)


def read_results_sections(path: str | Path) -> tuple[dict[str, Any], list[ContractError]]:
    """results.json for a tolerant reader (the report of a run that broke halfway is still worth having):
    schema and version checked as read_results does, then each top-level section alone. Returns the
    sections that fit (read them with .get(): any but `schema` may be absent) and one error per section
    that does not fit or is missing."""
    file = str(_file(path, RESULTS_FILE))
    doc = load_json(file)
    check_version(doc, RESULTS_SCHEMA, file)
    bad: dict[str, ContractError] = {}
    for key, err in _errors(doc, ResultsDoc, file, strict=False):
        bad.setdefault(key, err)
    return {k: v for k, v in doc.items() if k not in bad}, list(bad.values())


def plain(doc: Mapping[str, object]) -> dict[str, Any]:
    """A checked document as a plain dict, for callers not yet typed against the contract: the runtime check
    has been made, only the static type is given up. Each call is a place still to type (grep `plain(`)."""
    return dict(doc)


def _file(path: str | Path, name: str) -> Path:
    p = Path(path)
    return p if p.suffix == ".json" else p / name


__all__ = ["read_results", "read_manifest", "read_experiment", "read_summary", "read_results_sections", "plain",
           "check_shape", "shape_errors", "json_schema", "load_json", "ContractError", "DocumentMissing",
           "MAX_DOC_BYTES", "RESULTS_FILE", "MANIFEST_FILE", "EXPERIMENT_FILE", "SUMMARY_FILE"]

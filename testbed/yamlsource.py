"""YAML loading that remembers where every value came from (file, line, column).

PyYAML alone forgets positions and silently keeps the last of two duplicate keys;
this composes the node tree and converts it to plain Python, recording marks by path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, Problem, excerpt
from .textfile import read_text

Path_ = tuple  # a path into the document: ("links", 3, "delay")


@dataclass
class Source:
    """A parsed YAML document plus the position of each value and each mapping key."""

    file: str
    data: Any
    value_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_, key: bool = False) -> tuple[int, int]:
        """(line, col) of the value (or key) at path, or of its nearest known ancestor."""
        marks = self.key_marks if key else self.value_marks
        p = tuple(path)
        while p:
            if p in marks:
                return marks[p]
            if not key and p in self.key_marks:
                return self.key_marks[p]
            p = p[:-1]
        return self.value_marks.get((), (1, 1))

    def problem(self, path: Path_, message: str, key: bool = False) -> Problem:
        line, col = self.where(path, key)
        return Problem(self.file, line, col, dotted(path), message)


def dotted(path: Path_) -> str:
    """("links", 3, "delay") -> "links[3].delay"."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)   # libyaml when present: the same nodes and marks, 10x faster
MAX_REPEATS = 50_000   # values repeated by aliases: a 600-byte "billion laughs" document would repeat 10^9
MAX_DEPTH = 100        # real files nest under 10 levels; deeper is a generated attack on the recursion
YAML_TAG = "tag:yaml.org,2002:"
PLAIN_TAGS = {YAML_TAG + t for t in ("null", "bool", "int", "float", "str")}


class _Expanded(Exception):
    """Aliases repeat more than MAX_REPEATS values."""

    def __init__(self, node: yaml.Node) -> None:
        self.node = node


@dataclass
class _Walk:
    src: Source
    problems: list[Problem]
    repeats: int = 0
    seen: set[int] = field(default_factory=set)     # ids of the nodes converted once: met again through an alias
    active: set[int] = field(default_factory=set)   # ids of the nodes being converted: an alias to one recurses

    def add(self, node: yaml.Node, path: Path_, message: str) -> None:
        self.problems.append(Problem(self.src.file, node.start_mark.line + 1, node.start_mark.column + 1,
                                     dotted(path), message))


def load_yaml(file: str | Path, text: str | None = None) -> Source:
    """Parse one YAML file; every problem (syntax, duplicate keys, unsupported tags...) raises InputError."""
    name = str(file)
    if text is None:
        text = read_text(file)
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        msg = f"invalid YAML: {e.problem or e.context}"
        raise InputError([Problem(name, line, col, "", msg)]) from None
    except yaml.reader.ReaderError as e:     # a control character: no mark, only an offset
        line, col = _position(text, e.position)
        raise InputError([Problem(name, line, col, "", f"invalid YAML: character {excerpt(chr(e.character))} "
                                                       "is not allowed in a YAML file")]) from None
    except yaml.YAMLError as e:
        raise InputError([Problem(name, 1, 1, "", f"invalid YAML: {e}")]) from None
    except RecursionError:
        raise InputError([Problem(name, 1, 1, "", "invalid YAML: nested too deeply to read")]) from None
    src = Source(name, None)
    walk = _Walk(src, [])
    try:
        src.data = _convert(node, (), walk, 0) if node is not None else None
    except _Expanded as e:
        line, col = e.node.start_mark.line + 1, e.node.start_mark.column + 1
        raise InputError([Problem(name, line, col, "", f"YAML aliases here repeat more than {MAX_REPEATS} values "
                                                       "(a \"billion laughs\" document?); write it out or use "
                                                       "fewer aliases")]) from None
    if node is not None:
        src.value_marks[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if walk.problems:
        raise InputError(walk.problems)
    return src


def _position(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def _convert(node: yaml.Node, path: Path_, walk: _Walk, depth: int) -> Any:
    if id(node) in walk.seen:
        walk.repeats += 1
        if walk.repeats > MAX_REPEATS:
            raise _Expanded(node)
    else:
        walk.seen.add(id(node))
    src = walk.src
    src.value_marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if depth > MAX_DEPTH:
        walk.add(node, path, f"nested deeper than {MAX_DEPTH} levels")
        return None
    if id(node) in walk.active:
        walk.add(node, path, "this alias names a value that contains it (a recursive alias)")
        return None
    if isinstance(node, yaml.MappingNode):
        if node.tag != YAML_TAG + "map":
            walk.add(node, path, f"unsupported YAML tag {excerpt(node.tag)}; write a plain mapping")
            return None
        walk.active.add(id(node))
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            if knode.tag == YAML_TAG + "merge":
                walk.add(knode, path, "YAML merge keys (<<) are not supported; write the keys out "
                                      "(or use `extends:` for link profiles)")
                continue
            if not isinstance(knode, yaml.ScalarNode):
                walk.add(knode, path, "a key must be a plain word or number, not a list or mapping")
                continue
            key = _scalar(knode, path, walk)
            kpath = path + (key,)
            if key in out:
                walk.add(knode, kpath, f'duplicate key {excerpt(key)} (first at line {src.key_marks[kpath][0]})')
                continue
            src.key_marks[kpath] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
            out[key] = _convert(vnode, kpath, walk, depth + 1)
        walk.active.discard(id(node))
        return out
    if isinstance(node, yaml.SequenceNode):
        if node.tag != YAML_TAG + "seq":
            walk.add(node, path, f"unsupported YAML tag {excerpt(node.tag)}; write a plain list")
            return None
        walk.active.add(id(node))
        out_list = [_convert(v, path + (i,), walk, depth + 1) for i, v in enumerate(node.value)]
        walk.active.discard(id(node))
        return out_list
    return _scalar(node, path, walk)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()   # one for all: a loader per value was most of the time


def _construct(node: yaml.Node) -> Any:
    try:
        return _CONSTRUCTOR.construct_object(node)
    finally:
        _CONSTRUCTOR.constructed_objects.clear()


def _scalar(node: yaml.Node, path: Path_, walk: _Walk) -> Any:
    if node.tag == YAML_TAG + "timestamp":
        return node.value       # a date stays the text it was: no field takes a date, and 2020-13-45 is no date
    if node.tag not in PLAIN_TAGS:
        walk.add(node, path, f"unsupported YAML tag {excerpt(node.tag)}; only plain values are read")
        return None
    if getattr(node, "style", None):   # quoted: always a string
        return str(node.value)
    try:
        return _construct(node)
    except (yaml.YAMLError, ValueError, TypeError, KeyError, OverflowError) as e:
        kind = node.tag[len(YAML_TAG):]
        walk.add(node, path, f"{excerpt(node.value)} is not a valid {kind} ({type(e).__name__})")
        return None

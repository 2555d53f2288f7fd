"""YAML loading that remembers where every value came from (file, line, column).

PyYAML alone forgets positions and silently keeps the last of two duplicate keys;
this composes the node tree and converts it to plain Python, recording marks by path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import InputError, Problem

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


def load_yaml(file: str | Path, text: str | None = None) -> Source:
    """Parse one YAML file; syntax errors and duplicate keys raise InputError with positions."""
    name = str(file)
    if text is None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError([Problem(name, 0, 0, "", "no such file")]) from None
        except OSError as e:
            raise InputError([Problem(name, 0, 0, "", f"cannot read: {e.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        msg = f"invalid YAML: {e.problem or e.context}"
        raise InputError([Problem(name, line, col, "", msg)]) from None
    src = Source(name, None)
    problems: list[Problem] = []
    src.data = _convert(node, (), src, problems) if node is not None else None
    if node is not None:
        src.value_marks[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if problems:
        raise InputError(problems)
    return src


def _convert(node: yaml.Node, path: Path_, src: Source, problems: list[Problem]) -> Any:
    src.value_marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            key = yaml.SafeLoader("").construct_object(knode) if not isinstance(knode, yaml.ScalarNode) \
                else _scalar(knode)
            if isinstance(key, (list, dict)):
                key = str(key)
            kpath = path + (key,)
            if key in out:
                problems.append(Problem(src.file, knode.start_mark.line + 1, knode.start_mark.column + 1,
                                        dotted(kpath), f'duplicate key "{key}" (first at line '
                                        f'{src.key_marks[kpath][0]})'))
                continue
            src.key_marks[kpath] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
            out[key] = _convert(vnode, kpath, src, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, path + (i,), src, problems) for i, v in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    return yaml.SafeLoader("").construct_scalar(node) if node.style else \
        yaml.SafeLoader("").construct_object(node)

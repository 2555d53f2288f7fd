"""Hostile input files: every one is exit 2 with FILE:LINE:COL and a short one-line message; none hangs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.errors import InputError
from testbed.yamlsource import load_yaml

TESTBED = [sys.executable, "-m", "testbed.cli"]
LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))


def _problem(text: str) -> str:
    with pytest.raises(InputError) as e:
        load_yaml("f.yaml", text)
    msg = str(e.value)
    assert msg.startswith("f.yaml:") and "\n" not in msg.strip(), msg
    return msg


@pytest.mark.parametrize("text, where, says", [
    (LAUGHS, "f.yaml:", "aliases here repeat more than"),
    ("a: &a [1, *a]\n", "f.yaml:1:", "recursive alias"),
    ("a: " + "[" * 1200 + "]" * 1200 + "\n", "f.yaml:1:", "nest"),
    ("a: " + "[" * 150 + "]" * 150 + "\n", "f.yaml:1:", "nested deeper than 100 levels"),
    ("b: &b {x: 1}\nc:\n  <<: *b\n", "f.yaml:3:3", "merge keys (<<) are not supported"),
    ("a: !foo 5\n", "f.yaml:1:4", 'unsupported YAML tag "!foo"'),
    ("a: !!bool maybe\n", "f.yaml:1:4", '"maybe" is not a valid bool'),
    ("a: !!binary aGVsbG8=\n", "f.yaml:1:4", "unsupported YAML tag"),
    ("a: b\x01c\n", "f.yaml:1:5", 'character "\\x01" is not allowed'),
    ("a: " + "9" * 5000 + "\n", "f.yaml:1:4", "(5000 characters)"),
    ("? [a]\n: 1\n", "f.yaml:1:3", "a key must be a plain word"),
])
def test_yaml_constructs_are_located_problems(text: str, where: str, says: str) -> None:
    msg = _problem(text)
    assert msg.startswith(where) and says in msg, msg
    assert len(msg) < 400


def test_a_date_stays_text() -> None:
    assert load_yaml("f.yaml", "a: 2020-13-45\nb: 2020-01-01\n").data == {"a": "2020-13-45", "b": "2020-01-01"}


def test_non_utf8_is_located(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_bytes(b"name: x\nnodes: {a\xff: {kind: host}}\n")
    with pytest.raises(InputError, match=r"t.yaml:2:10: not UTF-8 text \(byte 0xff\)"):
        load_yaml(p)


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TESTBED, *args], capture_output=True, text=True, timeout=timeout)


def test_a_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "t.yaml"
    os.mkfifo(fifo)
    for cmd in (["validate"], ["plan"], ["graph", "-o", str(tmp_path / "m.png")]):
        cp = _cli(*cmd, str(fifo), timeout=30)
        assert cp.returncode == 2, (cmd, cp.stderr)
        assert "not a regular file" in cp.stderr and "Traceback" not in cp.stderr


def test_a_scenario_naming_a_private_file_quotes_one_short_line(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("first-line-of-a-secret " * 20 + "\nsecond-line-never-shown\n")
    sc = tmp_path / "s.yaml"
    sc.write_text(f"name: s\ntopology: {secret}\nduration: 10s\n")
    cp = _cli("validate", str(sc))
    assert cp.returncode == 2 and "Traceback" not in cp.stderr
    assert "second-line-never-shown" not in cp.stderr
    assert cp.stderr.count("first-line-of-a-secret") <= 3, cp.stderr
    assert all(len(line) < 400 for line in cp.stderr.splitlines())


def test_laughs_through_the_cli_is_quick(tmp_path: Path) -> None:
    p = tmp_path / "t.yaml"
    p.write_text("name: x\nnodes: {}\n" + LAUGHS)
    for cmd in ("validate", "plan"):
        cp = _cli(cmd, str(p), timeout=20)
        assert cp.returncode == 2 and "aliases here repeat" in cp.stderr, cp.stderr


def test_a_python_scenario_that_exits_is_an_error(tmp_path: Path) -> None:
    """Validating a .py scenario parses it, never imports it: one that only exits defines no scenario."""
    for body in ("import sys\nsys.exit(0)\n", "x = 1\nraise ValueError('no')\n"):
        p = tmp_path / "s.py"
        p.write_text(body)
        cp = _cli("validate", str(p))
        assert cp.returncode == 2, cp.stderr
        assert cp.stderr.startswith(f"{p}:1:1: scenario: a Python scenario defines `scenario = {{...}}`"), cp.stderr


def test_validate_help_says_a_python_scenario_is_never_imported() -> None:
    assert "never imported" in " ".join(_cli("validate", "--help").stdout.split())


def test_math_text_in_names_is_plain_text(tmp_path: Path) -> None:
    """A "$" in a node name (or a flow name, an event label) is text: the map and the plots still draw."""
    p = tmp_path / "t.yaml"
    p.write_text("name: '$\\frac$'\nnodes: {a: {kind: host, description: '$\\frac$'}, b: {kind: router}}\n"
                 "links: [{endpoints: [a, b], delay: 5ms}]\n")
    cp = _cli("graph", str(p), "-o", str(tmp_path / "m.png"))
    assert cp.returncode == 0, cp.stderr
    assert (tmp_path / "m.png").stat().st_size > 1000

"""Absurd values are refused at load with a located error that names the limit (issue 23, item 13)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from testbed.cli import main
from testbed.engine.model import check_params
from testbed.errors import InputError
from testbed.linkparams import DirectionParams, param_problems

TOPO = """\
name: bounds
nodes:
  a: {{kind: host}}
  b: {{kind: host}}
links:
  - endpoints: [a, b]
    {param}
"""
SCENARIO = """\
name: bounds
topology: topo.yaml
duration: 30s
traffic:
  - {{name: f, kind: {kind}, from: a, to: b, {option}}}
"""


def _validate(f: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["validate", str(f)])
    return rc, err.getvalue()


def _topology(tmp_path: Path, param: str) -> Path:
    f = tmp_path / "topo.yaml"
    f.write_text(TOPO.format(param=param))
    return f


@pytest.mark.parametrize(("param", "at", "path", "message"), [
    ("queue: 1000000000000000000000000000000", "1000", "links[0].queue", "at most 1000000 packets, got 1e+30"),
    ("queue: 1000001", "1000001", "links[0].queue", "at most 1000000 packets, got 1000001"),
    ('queue: "2000000 packets"', '"2000000', "links[0].queue", "at most 1000000 packets, got 2000000"),
    ("queue: 2GiB", "2GiB", "links[0].queue", 'at most 1073741824 bytes (1GiB), got "2GiB"'),
    ("queue: {limit: 99999999}", "99999999", "links[0].queue.limit", "at most 1000000 packets, got 99999999"),
    ("queue: {discipline: fq_codel, flows: 100000}", "100000", "links[0].queue.flows",
     "at most 65536 flow queues (Linux's limit), got 100000"),
    ("queue: {discipline: fq_codel, quantum: 0}", "0", "links[0].queue.quantum",
     "a quantum of 256 to 1048576 bytes (Linux's range), got 0"),
    ("queue: {discipline: red, min: 5, max: 10000000}", "10000000", "links[0].queue.max",
     "at most 1000000 packets, got 10000000"),
    ("queue: {discipline: red, weight: 2}", "2", "links[0].queue.weight",
     "an averaging weight above 0 and at most 1 (RED's default 0.002), got 2"),
    ("queue: {discipline: pie, alpha: .inf}", ".inf", "links[0].queue.alpha", 'expected a number >= 0, got "inf"'),
    ("queue: {discipline: pie, beta: 1000}", "1000", "links[0].queue.beta",
     "at most 100 (RFC 8033: alpha 0.125, beta 1.25), got 1000"),
    ("delay: 2h", "2h", "links[0].delay", 'at most 1h on a link, got "2h"'),
    ("jitter: 5000s", "5000s", "links[0].jitter", 'at most 1h on a link, got "5000s"'),
])
def test_topology_bounds_are_located_and_named(tmp_path: Path, param: str, at: str, path: str,
                                                message: str) -> None:
    """`at` is the refused value's text: the column is where it starts on line 7."""
    f = _topology(tmp_path, param)
    col = 4 + param.rindex(at) + 1
    rc, err = _validate(f)
    assert rc == 2
    assert f"{f}:7:{col}: {path}: {message}" in err, err


def test_generous_real_values_still_validate(tmp_path: Path) -> None:
    for param in ("queue: 1000000", 'queue: "1GiB"', "queue: {discipline: fq_codel, flows: 65536, quantum: 1514}",
                  "queue: {discipline: red, min: 50, max: 150, weight: 1}", "delay: 1h",
                  "queue: {discipline: pie, alpha: 100, beta: 100}"):
        rc, err = _validate(_topology(tmp_path, param))
        assert (rc, err) == (0, ""), param


def test_the_engine_refuses_what_the_loader_refuses() -> None:
    assert param_problems(DirectionParams(queue_packets=1_000_000)) == []
    assert param_problems(DirectionParams(queue_packets=10 ** 30)) == [
        "queue_packets must be 1..1000000 or None, got 1e+30"]
    assert param_problems(DirectionParams(queue_packets=None, queue_bytes=10 ** 400)) == [
        "queue_bytes must be 1..1073741824 or None, got a number of about 400 digits"]
    with pytest.raises(InputError, match=r"queue_packets must be 1\.\.1000000"):
        check_params(DirectionParams(queue_packets=2_000_000))


@pytest.mark.parametrize(("kind", "option", "col", "key", "message"), [
    ("tcp", "parallel: 10000000000000", 44, "parallel", "at most 1000000, got 1e+13"),
    ("http", "size: 5GiB", 41, "size", 'at most 1073741824 bytes (1GiB), got "5GiB"'),
    ("udp", "size: 2000GB", 40, "size", "a size above 1TiB is not supported"),     # past units' own limit
    ("tcp", "parallel: 200", 44, "parallel", "at most 128 parallel streams (iperf3's limit), got 200"),
    ("udp", "size: 64KiB", 40, "size", 'at most 65507 bytes (one IPv4 datagram\'s payload), got "64KiB"'),
    ("ping", "size: 100KB", 41, "size", 'at most 65507 bytes (one IPv4 datagram\'s payload), got "100KB"'),
    ("voip", "size: 1MB", 41, "size", 'at most 65507 bytes (one IPv4 datagram\'s payload), got "1MB"'),
])
def test_traffic_option_bounds_are_located_and_named(tmp_path: Path, kind: str, option: str, col: int, key: str,
                                                     message: str) -> None:
    _topology(tmp_path, "rate: 10Mbit")
    f = tmp_path / "sc.yaml"
    f.write_text(SCENARIO.format(kind=kind, option=option))
    rc, err = _validate(f)
    assert rc == 2
    assert re.search(rf"^{re.escape(str(f))}:5:\d+: traffic\[0\]\.{key}: {re.escape(message)}", err, re.M), err


def test_experiment_matrix_queue_is_bounded(tmp_path: Path) -> None:
    _topology(tmp_path, "rate: 10Mbit")
    (tmp_path / "sc.yaml").write_text(SCENARIO.format(kind="ping", option="interval: 1s"))
    f = tmp_path / "exp.yaml"
    f.write_text("name: e\nscenario: sc.yaml\nmatrix:\n  links.a--b.queue: [50, 5000000]\n"
                 "metrics: [f.rtt.p50]\n")
    rc, err = _validate(f)
    assert rc == 2 and f"{f}:4:" in err and "at most 1000000 packets, got 5000000" in err, err


def test_fault_counts_and_option_parsers_name_their_limits(tmp_path: Path) -> None:
    _topology(tmp_path, "rate: 10Mbit")
    f = tmp_path / "sc.yaml"
    f.write_text(SCENARIO.format(kind="ping", option="interval: 1s") +
                 "events:\n  - {at: 1s, do: flap, link: a--b, count: 100000000000}\n")
    rc, err = _validate(f)
    assert rc == 2 and f"{f}:7:43: events[0].count: at most 1000000, got 100000000000" in err, err
    from testbed import options as o
    assert (o.streams(128), o.datagram_size("64KB"), o.datagram_size("65507B")) == (128, 64000, 65507)
    with pytest.raises(ValueError, match=r"^at most 128 parallel streams \(iperf3's limit\), got 129$"):
        o.streams(129)
    with pytest.raises(ValueError, match=r"^at most 65507 bytes \(one IPv4 datagram's payload\), got \"65508B\"$"):
        o.datagram_size("65508B")

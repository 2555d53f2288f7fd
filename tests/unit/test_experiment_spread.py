"""The pure parts of `testbed experiment --cluster`: shares, the run list's text, progress lines, path mapping,
the queue a lost server hands its runs back to, and --runs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from testbed.cluster.model import Server
from testbed.errors import UsageError
from testbed.experiment.spec import load_experiment
from testbed.experiment.spread import Queue, format_runs, map_paths, parse_line, shares
from testbed.experiment.sweep import parse_runs, pending_runs

ROOT = Path(__file__).resolve().parents[2]
EXP = ROOT / "tests" / "integration" / "experiments" / "cluster-six.yaml"


def _server(name: str, cores: int) -> Server:
    return Server(name=name, address=f"{name}.lab", cores=cores, mtu=1500)


def test_shares_are_contiguous_and_follow_cores() -> None:
    runs = [(f"p{i:02d}", r) for i in range(1, 7) for r in (1, 2)]
    got = shares(runs, [_server("s1", 2), _server("s2", 2), _server("s3", 2)])
    assert [len(v) for v in got.values()] == [4, 4, 4]
    assert sum(got.values(), []) == runs
    got = shares(runs, [_server("big", 4), _server("small", 2)])
    assert got == {"big": runs[:8], "small": runs[8:]}
    assert shares(runs[:1], [_server("s1", 1), _server("s2", 1)]) == {"s1": [], "s2": runs[:1]}


def test_format_runs_uses_short_point_ids() -> None:
    assert format_runs([("p01-loss_0_", 1), ("p12-loss_5_", 2)]) == "p01:1,p12:2"


def test_parse_line_keeps_json_objects_only() -> None:
    assert parse_line(b'{"tick": {"point": "p01", "rep": 1}}\n') == {"tick": {"point": "p01", "rep": 1}}
    assert parse_line("Welcome to s1\n") is None
    assert parse_line(b"{not json") is None
    assert parse_line(b"[1, 2]") is None


def test_map_paths_rebases_the_servers_copies_only() -> None:
    doc = {"inputs": [{"path": "/tmp/testbed-sweep/in/scenarios/a.yaml", "copy": "inputs/scenarios/a.yaml"}],
           "copies": {"root": "/tmp/testbed-sweep/in"}, "other": "/tmp/testbed-sweep/inner", "n": 3}
    got = map_paths(doc, "/tmp/testbed-sweep/in", "/home/lab/exp")
    assert got == {"inputs": [{"path": "/home/lab/exp/scenarios/a.yaml", "copy": "inputs/scenarios/a.yaml"}],
                   "copies": {"root": "/home/lab/exp"}, "other": "/tmp/testbed-sweep/inner", "n": 3}


def test_a_lost_servers_runs_go_to_the_servers_left() -> None:
    q = Queue({"s1": [("p01", 1), ("p01", 2)], "s2": [("p02", 1), ("p02", 2)], "s3": [("p03", 1)]})
    assert q.take("s1") == [("p01", 1), ("p01", 2)]
    assert q.take("s2") == [("p02", 1), ("p02", 2)]
    assert q.lost("s3", []) == 1                     # lost before it began: its whole share goes back
    assert q.lost("s2", [("p02", 2)]) == 1           # lost after one run came back
    q.finished("s1")
    assert q.take("s1") == [("p03", 1), ("p02", 2)]
    q.finished("s1")
    assert q.take("s1") is None and q.left() == []


def test_an_idle_server_waits_while_another_may_yet_hand_runs_back() -> None:
    q = Queue({"s1": [], "s2": [("p01", 1), ("p01", 2)]})
    assert q.take("s2") == [("p01", 1), ("p01", 2)]
    got: list[object] = []
    t = threading.Thread(target=lambda: got.append(q.take("s1")))
    t.start()
    t.join(0.2)
    assert t.is_alive()                              # s2 is busy: s1 waits rather than finish
    q.lost("s2", [("p01", 2)])
    t.join(5)
    assert got == [[("p01", 2)]]


def test_parse_runs_and_pending_runs(tmp_path: Path) -> None:
    exp = load_experiment(EXP)
    assert parse_runs(exp, "p01:1, p06-loss_5_:2") == {("p01-loss_0_", 1), ("p06-loss_5_", 2)}
    for bad in ("p07:1", "p01:3", "p01", "p01:x"):
        with pytest.raises(UsageError, match=f'--runs: "{bad}" is no run of this experiment'):
            parse_runs(exp, bad)
    with pytest.raises(UsageError, match="--runs: no run named"):
        parse_runs(exp, ",")
    todo = pending_runs(exp, tmp_path)
    assert len(todo) == 12 and todo[:3] == [("p01-loss_0_", 1), ("p01-loss_0_", 2), ("p02-loss_0.5_", 1)]

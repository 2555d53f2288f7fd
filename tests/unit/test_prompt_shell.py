"""The `up` prompt speaks shell: a node command with shell syntax runs as `sh -c` in the node (here, a node
that runs its programs on this machine), and `&`, `jobs`, `kill %N` keep working."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from fakenet import FakeNetwork

from testbed.cli import up_cmd
from testbed.cli.jobs import Jobs, parse_line
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan

FIX = Path(__file__).parent / "fixtures" / "scenario"


class LocalNode:
    """A node whose programs run here (no namespace): what the prompt asks of it is what runs."""

    def __init__(self, net: LocalNetwork, name: str) -> None:
        self.net, self.name = net, name

    def interactive(self, argv: list[str]) -> int:
        self.net.ran.append((self.name, list(argv)))
        return subprocess.call(argv)

    def popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        self.net.ran.append((self.name, list(argv)))
        return subprocess.Popen(argv)


class LocalNetwork(FakeNetwork):
    def __init__(self) -> None:
        super().__init__(make_plan(load_topology(FIX / "tiny.yaml")))
        self.ran: list[tuple[str, list[str]]] = []

    def is_powered(self, name: str) -> bool:
        return name not in self.off

    def node(self, name: str) -> LocalNode:   # type: ignore[override]
        super().node(name)
        return LocalNode(self, name)


def test_a_redirection_writes_the_file(tmp_path: Path) -> None:
    net = LocalNetwork()
    out = tmp_path / "x.txt"
    assert up_cmd._do(net, f"h1 echo hi > {out}") == 0
    assert out.read_text() == "hi\n"
    assert net.ran == [("h1", ["sh", "-c", f"echo hi > {out}"])]


@pytest.mark.parametrize("rest", ["echo a | tr a b", "true && echo b", "echo a; echo b", "echo $HOME",
                                  "echo 'a  b'", "ls /tm*", "echo `id -u`"])
def test_shell_syntax_goes_to_sh(rest: str) -> None:
    line = parse_line(f"h1 {rest}")
    assert line is not None and line.shell and line.rest == rest and not line.background


def test_a_plain_line_keeps_its_words_and_node_addresses() -> None:
    net = LocalNetwork()
    assert up_cmd._do(net, "h1 true h2") == 0
    assert net.ran == [("h1", ["true", net.plan.address_of("h2")])]
    line = parse_line("h1 ping -c 3 h2")
    assert line is not None and not line.shell and line.words() == ["ping", "-c", "3", "h2"]


def test_background_jobs_still_work(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    net, jobs = LocalNetwork(), Jobs()
    assert up_cmd._do(net, "h1 sleep 5 &", jobs) == 0
    assert net.ran == [("h1", ["sleep", "5"])]
    assert capsys.readouterr().out.startswith("[1] ")
    # shell syntax in the background: the line without its `&` goes to sh
    out = tmp_path / "y.txt"
    assert up_cmd._do(net, f"h1 echo bg > {out} &", jobs) == 0
    assert net.ran[-1] == ("h1", ["sh", "-c", f"echo bg > {out}"])
    assert up_cmd._do(net, "jobs", jobs) == 0
    listing = capsys.readouterr().out
    assert "[1] Running   h1 sleep 5" in listing
    assert up_cmd._do(net, "kill %1", jobs) == 0
    assert "[1] killed  h1 sleep 5" in capsys.readouterr().out
    deadline = time.monotonic() + 5
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert out.read_text() == "bg\n"


def test_and_list_is_not_background() -> None:
    line = parse_line("h1 true && echo ok")
    assert line is not None and not line.background and line.shell


def test_a_prompt_command_is_not_sent_to_a_shell() -> None:
    line = parse_line('set-link h1--r1 set="{delay: 30ms}" for=0.1s')
    assert line is not None and line.head == "set-link"
    assert line.words() == ["h1--r1", "set={delay: 30ms}", "for=0.1s"]


def test_the_help_says_so() -> None:
    assert "sh -c" in up_cmd.HELP and "Mininet" in up_cmd.HELP

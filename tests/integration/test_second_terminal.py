"""A network brought up by one process, worked on from another: `testbed ls`, `testbed exec`
(names resolve inside programs, vtysh reaches the router's FRR, two nodes serve their own
`files:` at the same path); the prompt's `&`, `jobs`, `kill %N`; a command on a powered-off node
says so; nothing is left after the run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TEST_TOPOLOGIES, require_emulation

from testbed.emulation import names
from testbed.emulation.clean import leftovers

pytestmark = [pytest.mark.root, pytest.mark.emulation]
TESTBED = [sys.executable, "-m", "testbed.cli"]


def _tb(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*TESTBED, *args], capture_output=True, text=True, timeout=timeout)


def _listed(rid: str) -> dict | None:
    cp = _tb("ls", "--json")
    assert cp.returncode == 0, cp.stderr
    return next((n for n in json.loads(cp.stdout) if n["run_id"] == rid), None)


def test_ls_exec_vtysh_names_files_and_prompt_jobs():
    require_emulation()
    rid = names.new_run_id()
    up = subprocess.Popen([*TESTBED, "up", str(TEST_TOPOLOGIES / "prototype-lab.yaml"), "--run-id", rid],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert up.stdin is not None and up.stderr is not None
    try:
        seen = ""
        deadline = time.monotonic() + 40
        while "routing converged" not in seen:
            line = up.stderr.readline()
            assert line or up.poll() is None, f"testbed up ended: {seen}"
            seen += line
            assert time.monotonic() < deadline, seen
        # the same service in two nodes, in the background from the prompt, each with its own files
        for web in ("web-a", "web-b"):
            up.stdin.write(f"{web} python3 -m http.server 8080 --directory /srv/www &\n")
        up.stdin.flush()
        net = _listed(rid)
        assert net and net["topology"] == "prototype-lab" and "village" in net["nodes"], net
        human = _tb("ls").stdout
        assert rid in human and "prototype-lab" in human

        # programs resolve other nodes' names by themselves (the node's /etc/hosts)
        cp = _tb("exec", rid, "village", "getent", "hosts", "web-a")
        assert cp.returncode == 0 and cp.stdout.split()[1] == "web-a", cp
        cp = _tb("exec", "village", "python3", "-c", "import socket; print(socket.gethostbyname('tower'))")
        assert cp.returncode == 0 and cp.stdout.strip().startswith("10.254."), cp
        for web in ("web-a", "web-b"):
            deadline = time.monotonic() + 10
            while (cp := _tb("exec", rid, "village", "curl", "-s", "-m", "2", f"http://{web}:8080/")).returncode:
                assert time.monotonic() < deadline, cp
                time.sleep(0.3)
            assert cp.stdout == f"hello from {web}\n"
            assert _tb("exec", rid, web, "cat", "/etc/myapp.conf").stdout == f"site={web[-1]}\n"
        assert _tb("exec", rid, "web-a", "touch", "/var/lib/myapp/state").returncode == 0
        assert _tb("exec", rid, "web-b", "ls", "/var/lib/myapp").stdout == ""      # private per node
        assert not Path("/var/lib/myapp").exists() and not Path("/etc/myapp.conf").exists()   # host untouched
        # vtysh with no flags reaches the router's own daemons (its FRR folder is its /var/run/frr)
        cp = _tb("exec", rid, "tower", "vtysh", "-c", "show ip ospf neighbor")
        assert cp.returncode == 0 and cp.stdout.count("Full") == 2, cp.stdout + cp.stderr
        assert _tb("exec", rid, "village", "false").returncode == 1       # the command's own status
        cp = _tb("exec", rid, "villag", "true")
        assert cp.returncode == 2 and 'did you mean "village"' in cp.stderr

        # node-down at the prompt: the second terminal is told the node is off, and so is the prompt
        up.stdin.write("node-down village\n")
        up.stdin.flush()
        deadline = time.monotonic() + 10
        while (cp := _tb("exec", rid, "village", "true")).returncode != 2:
            assert time.monotonic() < deadline, cp
            time.sleep(0.2)
        assert "village is powered off" in cp.stderr and "node-up village" in cp.stderr, cp.stderr
        # then a background job, jobs, kill %3
        out, err = up.communicate("village ping -c 1 web-a\nnode-up village\nvillage ping -i 0.2 web-a &\n"
                                  "jobs\nkill %3\nexit\n", timeout=60)
        assert up.returncode == 0, err
        assert "village is powered off" in err and "node-up village" in err, err
        assert "[3] Running   village ping -i 0.2 web-a" in out, out
        assert "[1] Running   web-a python3 -m http.server" in out, out
        assert "[3] killed  village ping -i 0.2 web-a" in out, out
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert _listed(rid) is None
    assert leftovers(rid) == []

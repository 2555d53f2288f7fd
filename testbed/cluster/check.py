"""`testbed cluster check`: can every server of the inventory take part, and if not, how to fix it.

check -> run -> parse, as every runner here: the commands run over one multiplexed ssh connection per
server; what they print is parsed and judged by pure functions (tested on captured output).
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .facts import SCRIPT
from .model import TUNNEL_OVERHEAD, Cluster, Server

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5
COMMAND_TIMEOUT_S = 60
CLOCK_SAMPLES = 5
CLOCK_LIMIT_S = 0.005      # servers apart by more than this make cross-server one-way delays meaningless
SESSIONS = 4               # ssh sessions testbed opens at once on a server, however many nodes it runs: the agent
                           # (cluster/agent.py) or a sweep's share, one command, one pull of results, one spare
VERSIONED = ("testbed", "testbed_source", "mininet", "frr")


@dataclass(frozen=True)
class Finding:
    """One check on one server: passed or not, what was seen, and how to fix it."""

    server: str
    item: str
    ok: bool
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def ssh_argv(cluster: Cluster, server: Server, control: Path | None, *extra: str) -> list[str]:
    """ssh to one server, never asking for a password, over the server's control connection when given."""
    argv = ["ssh"]
    if cluster.ssh_config:
        argv += ["-F", cluster.ssh_config]
    argv += ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}", "-o", "ServerAliveInterval=5",
             "-p", str(server.port)]
    if server.identity:
        argv += ["-i", server.identity, "-o", "IdentitiesOnly=yes"]
    if control is not None:
        argv += ["-o", f"ControlPath={control}"]
    return [*argv, *extra, server.login]   # the login was checked: it cannot start with "-"


def remote(command: Sequence[str]) -> str:
    """The command line the server's shell gets (ssh joins its arguments with spaces: quote them)."""
    return shlex.join(command)


def parse_facts(text: str) -> dict[str, Any]:
    """The facts script's JSON line (the last line: a login banner or motd may come first)."""
    lines = [ln for ln in text.strip().splitlines() if ln.startswith("{")]
    if not lines:
        raise ValueError(f"no facts in the output: {text.strip()[-200:]!r}")
    facts = json.loads(lines[-1])
    if not isinstance(facts, dict):
        raise ValueError("the facts are not a JSON object")
    return facts


def clock_offset(samples: Sequence[tuple[float, float, float]]) -> tuple[float, float]:
    """(offset, error) in seconds from (sent, server's time, received) samples: the quickest round trip's
    midpoint (NTP's estimate), and half that round trip as the bound on its error."""
    t0, remote_t, t1 = min(samples, key=lambda s: s[2] - s[0])
    return remote_t - (t0 + t1) / 2, (t1 - t0) / 2


def ssh_failure(server: Server, rc: int, text: str) -> Finding:
    """Why ssh could not log in, said with the fix for that cause."""
    where = f"{server.login} port {server.port}"
    text = text.strip()
    causes = (
        ("Permission denied", f"ssh {where} asks for a password or refuses the key",
         f"install your public key there: ssh-copy-id -p {server.port} {server.login} (or name the key with "
         "`identity:` in cluster.yaml); testbed never types passwords"),
        ("Host key verification failed", f"{where}: its host key is not known here (or changed)",
         f"check its fingerprint, then add it: ssh-keyscan -p {server.port} {server.address} >> ~/.ssh/known_hosts"),
        ("Connection refused", f"nothing listens for ssh at {where}",
         f"start sshd on {server.name} (systemctl start ssh), or fix `address:`/`port:` in cluster.yaml"),
        ("Could not resolve", f"{server.address} is no known host name",
         "fix `address:` in cluster.yaml, or add the name to /etc/hosts"),
        ("timed out", f"{where} does not answer within {CONNECT_TIMEOUT_S}s",
         f"check that {server.name} is up, its address, and the firewalls between here and it"),
        ("No route to host", f"{where} cannot be reached (no route to host)",
         f"check that {server.name} is up and its address; `ip route get {server.address}` shows the way out"),
        ("closed by remote host", f"{where} closed the connection",
         f"see sshd's log on {server.name} (MaxStartups reached? a Match block refusing this user?)"),
    )
    for needle, what, fix in causes:
        if needle.lower() in text.lower():
            return Finding(server.name, "ssh", False, what + (f": {_last(text)}" if text else ""), fix)
    return Finding(server.name, "ssh", False, f"ssh {where} failed (exit {rc}): {_last(text) or 'no message'}",
                   f"run `ssh -v -p {server.port} {server.login} true` by hand to see why")


def judge(cluster: Cluster, server: Server, here: Mapping[str, Any], facts: Mapping[str, Any],
          nodes: int | None = None) -> list[Finding]:
    """The findings of one server's facts, compared with this machine's (pure)."""
    name = server.name
    out = []
    differ = [k for k in VERSIONED if facts.get(k) != here.get(k)]
    if facts.get("testbed") is None:
        out.append(Finding(name, "versions", False, f"testbed is not installed for {server.python} on {name}",
                           f"install this checkout there (pip install <this checkout>) in the Python that "
                           f"`python:` names in cluster.yaml (now {server.python})"))
    elif differ:
        seen = "; ".join(f"{k} {facts.get(k) or 'missing'} (here {here.get(k) or 'missing'})" for k in differ)
        out.append(Finding(name, "versions", False, f"{name} differs from here: {seen}",
                           "install the same versions on every server: the same testbed checkout (testbed_source "
                           "is a digest of its code), and `apt-get install mininet=<version> frr=<version>`"))
    else:
        out.append(Finding(name, "versions", True, f"testbed {facts['testbed']} (source {facts['testbed_source']}), "
                                                   f"mininet {facts['mininet']}, FRR {facts['frr']}"))
    tun = facts.get("tunnel") or {}
    if tun.get("ok"):
        out.append(Finding(name, "tunnel", True, f"{cluster.tunnel} devices can be made (kernel {facts.get('kernel')})"))
    elif "unknown device type" in str(tun.get("output", "")).lower():
        option = {"gretap": "CONFIG_NET_IPGRE", "vxlan": "CONFIG_VXLAN"}[cluster.tunnel]
        other = "vxlan" if cluster.tunnel == "gretap" else "gretap"
        out.append(Finding(name, "tunnel", False, f"the kernel of {name} ({facts.get('kernel')}) cannot make "
                                                  f"{cluster.tunnel} devices ({option} is not built or loaded)",
                           f"load the module (modprobe {'ip_gre' if cluster.tunnel == 'gretap' else 'vxlan'}) or use "
                           f"a kernel built with {option}; or set `tunnel: {other}` in cluster.yaml if every "
                           "server's kernel has that one"))
    else:
        out.append(Finding(name, "tunnel", False, f"making a {cluster.tunnel} device failed on {name}: "
                                                  f"{_last(str(tun.get('output', '')))}",
                           f"log in as root (or a user with CAP_NET_ADMIN) on {name}: `user:` in cluster.yaml"))
    out.extend(_underlay(cluster, server, facts))
    out.append(_sshd(server, facts.get("sshd") or {}, nodes))
    return out


def _underlay(cluster: Cluster, server: Server, facts: Mapping[str, Any]) -> list[Finding]:
    name, overhead = server.name, TUNNEL_OVERHEAD[cluster.tunnel]
    under, ping = facts.get("underlay"), facts.get("ping")
    fits = f"cut links carry frames of up to {server.mtu - overhead} bytes over {cluster.tunnel}"
    if under is None:
        return [Finding(name, "mtu", True, f"mtu {server.mtu} (declared; no other server to try it with): {fits}")]
    dev, actual = under.get("dev"), under.get("mtu")
    if actual is None:
        return [Finding(name, "mtu", False, f"cannot tell {name}'s way to the other servers: "
                                            f"{_last(str(under.get('output', '')))}",
                        "check `ip route get <another server>` on it: the servers must reach each other")]
    if actual < server.mtu:
        return [Finding(name, "mtu", False, f"{name}'s underlay interface {dev} has MTU {actual}, but cluster.yaml "
                                            f"says mtu: {server.mtu}",
                        f"raise it (ip link set dev {dev} mtu {server.mtu}, and the switches between the servers), "
                        f"or write mtu: {actual} for {name} in cluster.yaml")]
    if ping is not None and not ping.get("ok"):
        return [Finding(name, "mtu", False, f"a {server.mtu}-byte packet that may not be fragmented does not cross "
                                            f"from {name} to the next server (ping -M do -s {server.mtu - 28}): "
                                            f"{_last(str(ping.get('output', '')))}",
                        f"something between the servers carries less than {server.mtu} bytes: raise its MTU, or "
                        f"lower mtu: for {name} in cluster.yaml to what crosses")]
    return [Finding(name, "mtu", True, f"{dev} mtu {actual}; {server.mtu}-byte packets cross to the next server: "
                                       f"{fits}")]


def _sshd(server: Server, sshd: Mapping[str, Any], nodes: int | None) -> Finding:
    name = server.name
    try:
        sessions = int(sshd["maxsessions"])
        startups = str(sshd.get("maxstartups") or "?")
    except (KeyError, TypeError, ValueError):
        return Finding(name, "sshd", False, f"cannot read sshd's settings on {name} (sshd -T): "
                                            f"{_last(str(sshd.get('output', '')))}",
                       f"log in as root on {name} (`user: root` in cluster.yaml): sshd -T reads the host keys")
    placed = f", {nodes} nodes placed" if nodes is not None else ""
    if sessions < SESSIONS:
        return Finding(name, "sshd", False, f"{name}'s sshd allows MaxSessions {sessions}, but testbed opens up to "
                                            f"{SESSIONS} sessions at once on one connection{placed}",
                       f"set `MaxSessions {SESSIONS * 4}` in /etc/ssh/sshd_config on {name} and reload sshd "
                       "(systemctl reload ssh)")
    # one agent per server carries every node, so the count of nodes does not matter (mininet#1078 does not arise)
    return Finding(name, "sshd", True, f"MaxSessions {sessions} (testbed needs {SESSIONS}{placed}), "
                                       f"MaxStartups {startups}")


def judge_clock(server: Server, offset: float, error: float) -> Finding:
    detail = f"clock {offset * 1e3:+.2f} ms from here (±{error * 1e3:.2f} ms)"
    if abs(offset) - error > CLOCK_LIMIT_S:
        return Finding(server.name, "clock", False, detail + f", more than {CLOCK_LIMIT_S * 1e3:g} ms",
                       f"synchronise the clocks: run chrony on every server (apt-get install chrony) against the same "
                       f"source and wait until `chronyc tracking` shows a small offset on {server.name}")
    return Finding(server.name, "clock", True, detail)


def here_facts(tunnel: str) -> dict[str, Any]:
    """This machine's versions, for comparison (the same script, run locally with this interpreter)."""
    cp = subprocess.run([sys.executable, "-", tunnel, "", "1500"], input=SCRIPT, capture_output=True, text=True,
                        timeout=COMMAND_TIMEOUT_S)
    return parse_facts(cp.stdout)


def check_server(cluster: Cluster, server: Server, here: Mapping[str, Any], peer: str, nodes: int | None,
                 workdir: Path) -> list[Finding]:
    """Every check on one server over one control connection, closed at the end."""
    control = workdir / f"{cluster.index(server.name)}.sock"
    errlog = workdir / f"{cluster.index(server.name)}.err"
    with errlog.open("w") as err:   # not a pipe: the backgrounded master keeps it open for its whole life
        rc = subprocess.run(ssh_argv(cluster, server, control, "-M", "-N", "-f", "-o", "ControlPersist=120"),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                            timeout=CONNECT_TIMEOUT_S + 20).returncode
    if rc != 0:
        return [ssh_failure(server, rc, errlog.read_text(errors="replace"))]
    try:
        out = [Finding(server.name, "ssh", True, f"{server.login} port {server.port}, no password")]
        cp = subprocess.run(ssh_argv(cluster, server, control) +
                            [remote([server.python, "-", cluster.tunnel, peer, str(server.mtu)])],
                            input=SCRIPT, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
        try:
            facts = parse_facts(cp.stdout)
        except ValueError:
            missing = cp.returncode == 127 or "not found" in cp.stderr
            return out + [Finding(server.name, "python", False,
                                  f"{server.python} could not run the checks on {server.name} (exit {cp.returncode}): "
                                  f"{_last(cp.stderr) or 'no output'}",
                                  "install Python 3 there, or name the interpreter testbed is installed for with "
                                  "`python:` in cluster.yaml" if missing else
                                  f"run `{server.python} -c 'import testbed'` on {server.name} to see why")]
        out += judge(cluster, server, here, facts, nodes)
        samples = []
        for _ in range(CLOCK_SAMPLES):
            t0 = time.time()
            cp = subprocess.run(ssh_argv(cluster, server, control) + ["date +%s.%N"], capture_output=True, text=True,
                                timeout=COMMAND_TIMEOUT_S)
            t1 = time.time()
            try:
                samples.append((t0, float(cp.stdout.strip()), t1))
            except ValueError:
                continue
        if samples:
            out.append(judge_clock(server, *clock_offset(samples)))
        else:
            out.append(Finding(server.name, "clock", False, f"`date +%s.%N` gave no time on {server.name}",
                               "install GNU coreutils' date there"))
        return out
    finally:
        subprocess.run(ssh_argv(cluster, server, control, "-O", "exit"), capture_output=True,
                       timeout=CONNECT_TIMEOUT_S + 5)


def check_cluster(cluster: Cluster, nodes: Mapping[str, int] | None = None) -> list[Finding]:
    """Every check on every server, the servers in parallel; findings in inventory order.

    `nodes`: how many nodes a placement puts on each server, to judge sshd's MaxSessions against.
    Each server's underlay is tried towards the next server of the list (the last towards the first).
    """
    here = here_facts(cluster.tunnel)
    servers = cluster.servers
    with tempfile.TemporaryDirectory(prefix="tbcluster-") as tmp, ThreadPoolExecutor(max_workers=16) as pool:
        futures = [pool.submit(check_server, cluster, s, here,
                               servers[(i + 1) % len(servers)].endpoint if len(servers) > 1 else "",
                               None if nodes is None else nodes.get(s.name, 0), Path(tmp))
                   for i, s in enumerate(servers)]
        return [f for fut in futures for f in fut.result()]


def _last(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return re.sub(r"\s+", " ", lines[-1])[:200] if lines else ""

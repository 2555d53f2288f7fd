"""Host interfaces taken into a run (external nodes), and given back exactly as they were.

An external node is a namespace holding the host interface and a bridge joining it to its link's
end (an engine TAP): a device plugged into that port is then on the emulated link, with the
link's delay, loss and rate. Taking the port:

1. refuse it (CapabilityError, exit 3) when it is missing, the loopback or ours, or in use: it
   carries the default route, has an address (IPv6 link-local aside) or is a bridge/bond port,
   unless the user names it with --force-interface;
2. write its state to the run's marker folder (/run/testbed/<run>/external.json): MTU, up/down,
   master, addresses, routes, per-interface sysctls — before anything changes;
3. pin the holder's namespace (`ip netns attach tbn<run>-<node> PID`), so it outlives a
   `kill -9` of the run (a veth would otherwise die with it, a NIC fall back stripped bare);
4. move the interface into it.

Giving back (teardown, or `testbed clean` after a crash): move it to our own namespace, restore
the saved state, delete the pin. Nothing here kills or deletes anything not named by the run.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CapabilityError, UsageError
from ..topology.plan import ExternalPort, Plan
from . import names

log = logging.getLogger(__name__)

SAVED_FILE = "external.json"
NETNS_DIR = Path("/run/netns")       # where `ip netns` keeps its pins
LINK_END = "tblink0"                 # the link's end inside the holder namespace
BRIDGE = "tbbr0"
SYSCTL_ROOTS = (Path("/proc/sys/net/ipv4/conf"), Path("/proc/sys/net/ipv6/conf"))


@dataclass
class SavedPort:
    """Everything about a host interface that taking it changes, to be put back as it was."""

    node: str
    interface: str
    pin: str                                  # the `ip netns` name holding it while taken
    mtu: int = 1500
    up: bool = False
    master: str | None = None
    promisc: bool = False
    addresses: list[dict[str, Any]] = field(default_factory=list)   # `ip -j addr` addr_info entries
    routes: list[dict[str, Any]] = field(default_factory=list)      # `ip -j route` entries (main table)
    sysctls: dict[str, str] = field(default_factory=dict)           # "ipv4/rp_filter" -> "2"


def _json(argv: list[str]) -> list[dict[str, Any]]:
    cp = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if cp.returncode != 0:
        return []
    try:
        out = json.loads(cp.stdout or "[]")
    except ValueError:
        return []
    return out if isinstance(out, list) else []


def _ip(argv: list[str], what: str) -> str | None:
    """Run one `ip` command; the error text, or None when it worked."""
    cp = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=30)
    if cp.returncode != 0:
        log.warning("%s: ip %s: %s", what, " ".join(argv), cp.stderr.strip())
        return cp.stderr.strip() or f"ip {' '.join(argv)} failed"
    return None


def pin_name(run_id: str, node: str) -> str:
    return names.node_label(run_id, node)


def _real_addresses(addr_info: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Addresses a user gave (IPv6 link-local ones come back by themselves)."""
    return [a for a in addr_info if not (a.get("family") == "inet6" and a.get("scope") == "link")]


def check(plan: Plan, force: Iterable[str] = ()) -> None:
    """Refuse (exit 3) host interfaces that are missing or busy, unless forced; before anything starts."""
    ports = plan.external
    force = set(force)
    unknown_force = force - {p.interface for p in ports}
    if unknown_force:
        raise UsageError(f"--force-interface {', '.join(sorted(unknown_force))}: the topology takes no such "
                         f"host interface; it takes: {', '.join(p.interface for p in ports) or 'none'}")
    if not ports:
        return
    problems = port_problems(ports, _json(["ip", "-j", "-d", "link", "show"]), _json(["ip", "-j", "addr", "show"]),
                             [r for fam in ("-4", "-6") for r in _json(["ip", "-j", fam, "route", "show", "table", "all"])],
                             force, own={p.interface for p in ports if p.node in plan.stand_ins})
    if problems:
        raise CapabilityError("\n".join(p[0] for p in problems), "; ".join(dict.fromkeys(p[1] for p in problems)))


def _carries_traffic(r: dict[str, Any]) -> bool:
    """A route the machine's traffic may use; not the kernel's IPv6 link-local and multicast entries, which
    every interface that is up has by itself."""
    dst = str(r.get("dst", ""))
    if r.get("protocol") == "kernel" and (dst.startswith("fe80:") or dst.startswith("ff00:")
                                          or r.get("type") == "multicast"):
        return False
    return True


def port_problems(ports: Iterable[ExternalPort], links: list[dict[str, Any]], addrs: list[dict[str, Any]],
                  routes: list[dict[str, Any]], force: Iterable[str] = (),
                  own: Iterable[str] = ()) -> list[tuple[str, str]]:
    """(problem, fix) for each port that may not be taken: pure, on `ip -j -d link`, `ip -j addr` and
    `ip -j route show table all` (both families) output.

    A port is busy when it carries a route in any table (policy routing keeps a default route outside
    main), has an address, is a bridge or bond port, or has a device stacked on it (a VLAN or macvlan
    whose link is the port, a port enslaved to it): taking it would take that device's traffic too,
    and a VLAN carrying the default route would cut the machine off just the same. `own`: this run's own
    tunnel devices for its cut links (a network spread over servers), the only testbed devices a port may be."""
    force, own = set(force), set(own)
    by_name = {d.get("ifname"): d for d in links}
    addr_of = {d.get("ifname"): _real_addresses(d.get("addr_info", [])) for d in addrs}
    problems = []
    for port in ports:
        intf, who = port.interface, f'host interface {port.interface} (external node "{port.node}")'
        d = by_name.get(intf)
        if d is None:
            here = ", ".join(sorted(str(n) for n in by_name if n and n != "lo" and not str(n).startswith(names.PREFIX)))
            problems.append((f"{who} does not exist on this machine; interfaces here: {here or 'none'}",
                             f"plug the device's port in, or write an interface that exists under nodes.{port.node}"))
            continue
        if d.get("link_type") == "loopback" or intf.startswith(names.PREFIX) and intf not in own:
            problems.append((f"{who} is {'the loopback' if intf == 'lo' else 'a testbed interface'}",
                             "name the port a device is plugged into"))
            continue
        busy = []
        mine = [r for r in routes if r.get("dev") == intf and _carries_traffic(r)]
        if any(r.get("dst") == "default" for r in mine):
            tables = sorted({str(r.get("table", "main")) for r in mine if r.get("dst") == "default"})
            busy.append(f"it carries a default route (table {', '.join(tables)})")
        elif mine:
            tables = sorted({str(r.get("table", "main")) for r in mine})
            busy.append(f"it carries {len(mine)} route(s) (table {', '.join(tables)})")
        if addr_of.get(intf):
            busy.append("it has the address(es) " + ", ".join(f"{a.get('local')}/{a.get('prefixlen')}"
                                                              for a in addr_of[intf]))
        if d.get("master"):
            busy.append(f"it is a port of {d['master']}")
        stacked = sorted(str(n) for n, o in by_name.items() if n != intf
                         and (o.get("link") == intf or o.get("master") == intf))
        if stacked:
            busy.append(f"{', '.join(stacked)} {'is' if len(stacked) == 1 else 'are'} stacked on it "
                        "(a VLAN, macvlan or a port of it): their traffic goes through it")
        if busy and intf not in force:
            problems.append((f"{who} is in use: {'; '.join(busy)}. Taking it could cut this machine off",
                             f"use a free port (no address, no route, nothing stacked on it), or take this one "
                             f"anyway with --force-interface {intf} (it is given back with its addresses and "
                             "routes)"))
    return problems


def inspect(port: ExternalPort, run_id: str) -> SavedPort:
    """The interface's state now (it is in our namespace)."""
    intf = port.interface
    link = (_json(["ip", "-j", "-d", "link", "show", "dev", intf]) or [{}])[0]
    addr = (_json(["ip", "-j", "addr", "show", "dev", intf]) or [{}])[0]
    routes = [{**r, "family": fam} for fam in ("-4", "-6")
              for r in _json(["ip", "-j", fam, "route", "show", "dev", intf])
              if r.get("protocol") != "kernel" and not str(r.get("dst", "")).startswith("fe80:")]
    flags = link.get("flags", [])
    return SavedPort(port.node, intf, pin_name(run_id, port.node), mtu=int(link.get("mtu", 1500)),
                     up="UP" in flags, master=link.get("master"), promisc=bool(link.get("promiscuity", 0))
                     and "PROMISC" in flags, addresses=_real_addresses(addr.get("addr_info", [])),
                     routes=routes, sysctls=_read_sysctls(intf))


def _read_sysctls(intf: str) -> dict[str, str]:
    out = {}
    for root in SYSCTL_ROOTS:
        folder = root / intf
        if not folder.is_dir():
            continue
        for f in folder.iterdir():
            if not os.access(f, os.W_OK):
                continue
            try:
                out[f"{root.parent.name}/{f.name}"] = f.read_text().strip()
            except OSError:
                continue  # write-only or unreadable (stable_secret): not ours to keep
    return out


def save(marker: Path, saved: list[SavedPort]) -> None:
    path = marker / SAVED_FILE
    path.write_text(json.dumps([asdict(s) for s in saved], indent=1))
    path.chmod(0o600)


def load_saved(marker: Path) -> list[SavedPort]:
    try:
        data = json.loads((marker / SAVED_FILE).read_text())
    except (OSError, ValueError):
        return []
    out = []
    for d in data if isinstance(data, list) else []:
        try:
            out.append(SavedPort(**d))
        except TypeError:
            log.warning("ignoring a damaged entry in %s", marker / SAVED_FILE)
    return out


def take(saved: SavedPort, holder_pid: int) -> None:
    """Pin the holder's namespace, then move the interface into it."""
    err = _ip(["netns", "attach", saved.pin, str(holder_pid)], saved.interface)
    if err:
        raise CapabilityError(f"cannot pin the namespace for host interface {saved.interface}: {err}",
                              "check that /run/netns is writable (iproute2's `ip netns attach`)")
    err = _ip(["link", "set", "dev", saved.interface, "netns", str(holder_pid)], saved.interface)
    if err:
        raise CapabilityError(f"cannot take host interface {saved.interface} into the network: {err}",
                              "some interfaces cannot change namespace (Wi-Fi: use `iw phy PHY set netns`, "
                              "or a wired port); use another port")


def holder_lines(link_mtu: int, intf: str) -> list[str]:
    """`ip -batch` lines inside the holder: a bridge joining the link's end and the host port."""
    lines = ["link set lo up", f"link add name {BRIDGE} type bridge forward_delay 0 stp_state 0",
             f"link set {LINK_END} master {BRIDGE}", f"link set {intf} master {BRIDGE}"]
    if link_mtu != 1500:
        lines.append(f"link set {LINK_END} mtu {link_mtu}")
    return lines + [f"link set {LINK_END} up", f"link set {intf} up", f"link set {BRIDGE} up"]


def give_back(saved: SavedPort) -> list[str]:
    """Move the interface back to our namespace, restore what was saved, drop the pin. Problems found."""
    problems: list[str] = []
    intf = saved.interface
    pinned = (NETNS_DIR / saved.pin).exists()
    if pinned and _json(["ip", "-n", saved.pin, "-j", "link", "show", "dev", intf]):
        _ip(["-n", saved.pin, "link", "set", "dev", intf, "nomaster"], intf)
        err = _ip(["-n", saved.pin, "link", "set", "dev", intf, "netns", str(os.getpid())], intf)
        if err:
            problems.append(f"host interface {intf}: could not move it back: {err}")
    here = bool(_json(["ip", "-j", "link", "show", "dev", intf]))
    if here:
        problems += restore(saved)
    elif not problems:
        problems.append(f"host interface {intf} is gone (a virtual interface dies with its namespace "
                        "when that namespace is not pinned)")
    if pinned and not problems:
        err = _ip(["netns", "delete", saved.pin], intf)
        if err:
            problems.append(f"namespace pin {saved.pin}: {err}")
    return problems


def restore(saved: SavedPort) -> list[str]:
    """Put the saved state back on an interface that is in our namespace."""
    intf, problems = saved.interface, []
    cur = (_json(["ip", "-j", "-d", "link", "show", "dev", intf]) or [{}])[0]
    for key, value in saved.sysctls.items():
        fam, name = key.split("/", 1)
        f = Path(f"/proc/sys/net/{fam}/conf/{intf}/{name}")
        try:
            if f.read_text().strip() != value:
                f.write_text(value)
        except OSError:
            continue  # some knobs refuse writes in some states; the rest still count
    if int(cur.get("mtu", saved.mtu)) != saved.mtu:
        if err := _ip(["link", "set", "dev", intf, "mtu", str(saved.mtu)], intf):
            problems.append(f"{intf}: mtu: {err}")
    if saved.master and cur.get("master") != saved.master:
        if err := _ip(["link", "set", "dev", intf, "master", saved.master], intf):
            problems.append(f"{intf}: master {saved.master}: {err}")
    if saved.promisc:
        _ip(["link", "set", "dev", intf, "promisc", "on"], intf)
    for a in saved.addresses:
        argv = ["addr", "replace", f"{a['local']}/{a['prefixlen']}", "dev", intf]
        if a.get("broadcast"):
            argv += ["broadcast", a["broadcast"]]
        if a.get("label") and a.get("family") == "inet":
            argv += ["label", a["label"]]
        if err := _ip(argv, intf):
            problems.append(f"{intf}: address {a['local']}: {err}")
    if err := _ip(["link", "set", "dev", intf, "up" if saved.up else "down"], intf):
        problems.append(f"{intf}: {'up' if saved.up else 'down'}: {err}")
    for r in saved.routes:
        argv = [str(r.get("family", "-4")), "route", "replace", str(r.get("dst", "default"))]
        if r.get("gateway"):
            argv += ["via", r["gateway"]]
        argv += ["dev", intf]
        for k, opt in (("metric", "metric"), ("protocol", "proto"), ("scope", "scope"), ("prefsrc", "src")):
            if r.get(k) is not None:
                argv += [opt, str(r[k])]
        if err := _ip(argv, intf):
            problems.append(f"{intf}: route {r.get('dst')}: {err}")
    return problems


def give_back_run(marker: Path) -> tuple[list[str], list[str]]:
    """`clean`: give back every interface a run saved. (interfaces given back, problems)."""
    done, problems = [], []
    for saved in load_saved(marker):
        p = give_back(saved)
        problems += p
        if not p:
            done.append(saved.interface)
    return done, problems


def pins(run_id: str) -> list[str]:
    """`ip netns` pins of a run (only ours: named tbn<run id>-<node>)."""
    if not NETNS_DIR.is_dir():
        return []
    prefix = f"{names.tag(run_id)}-"
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))

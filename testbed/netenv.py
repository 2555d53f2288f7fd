"""The pinned node environment: every setting that shapes TCP results, the same on every host (pure).

A new network namespace inherits the host's TCP defaults (its congestion control, buffer sizes, ECN),
so without pinning, the same YAML gives BBR on one machine and CUBIC on another. Every node gets
these values unless the topology (`defaults.env`, a node's `env`) or a flow (`cc`) says otherwise.
docs/environment.md has the table and the reasons.
"""

from __future__ import annotations

import ipaddress
import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CapabilityError, unknown

# every congestion control Linux has shipped: a name outside it is a typo (exit 2); a name inside it that
# this kernel lacks is a machine that cannot (exit 3)
LINUX_CC = ("bbr", "bic", "cdg", "cubic", "dctcp", "highspeed", "htcp", "hybla", "illinois", "lp", "nv", "reno",
            "scalable", "vegas", "veno", "westwood", "yeah")
CC_CONFIG = {"highspeed": "HSTCP"}


def _cc(v: Any) -> str:
    if not isinstance(v, str) or v not in LINUX_CC:
        raise ValueError(unknown("congestion control", str(v), LINUX_CC))
    return v


# root qdiscs that need no parameters, and the kernel option each needs (None: in every kernel with networking)
LINUX_QDISCS: dict[str, str | None] = {
    "pfifo_fast": None, "noqueue": None, "pfifo": "NET_SCH_FIFO", "bfifo": "NET_SCH_FIFO",
    "fq_codel": "NET_SCH_FQ_CODEL", "fq": "NET_SCH_FQ", "codel": "NET_SCH_CODEL", "sfq": "NET_SCH_SFQ",
    "cake": "NET_SCH_CAKE", "pie": "NET_SCH_PIE", "fq_pie": "NET_SCH_FQ_PIE",
}


def _qdisc(v: Any) -> str:
    if not isinstance(v, str) or v not in LINUX_QDISCS:
        raise ValueError(unknown("queueing discipline", str(v), LINUX_QDISCS))
    return v


def _bool01(v: Any) -> int:
    if not isinstance(v, bool):
        raise ValueError(f"expected true or false, got {v!r}")
    return int(v)


def _choice(*ok: int) -> Callable[[Any], int]:
    def parse(v: Any) -> int:
        if isinstance(v, bool) or v not in ok:
            raise ValueError(f"expected one of {', '.join(map(str, ok))}, got {v!r}")
        return int(v)
    return parse


def _triple(v: Any) -> str:
    """min default max in bytes: a list [4096, 131072, 6291456] or the sysctl's own "4096 131072 6291456"."""
    parts = v.split() if isinstance(v, str) else v
    try:
        if not isinstance(parts, (list, tuple)) or len(parts) != 3:
            raise ValueError
        n = [int(x) for x in parts]
    except (TypeError, ValueError):
        raise ValueError(f"expected three byte counts [min, default, max] like [4096, 131072, 6291456], got {v!r}") \
            from None
    if not 0 < n[0] <= n[1] <= n[2]:
        raise ValueError(f"expected 0 < min <= default <= max, got {n}")
    return " ".join(map(str, n))


def _bytes(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= 4294967295:
        raise ValueError(f"expected a byte count 1..4294967295, got {v!r}")
    return v


def _address(v: Any) -> str:
    """One IPv4 or IPv6 address (a resolver's): glibc's resolv.conf takes addresses, not names."""
    try:
        if isinstance(v, bool) or not isinstance(v, str):
            raise ValueError
        return str(ipaddress.ip_address(v))
    except ValueError:
        raise ValueError(f"expected the IP address of a DNS resolver you run (like 10.0.0.53), got {v!r}") \
            from None


@dataclass(frozen=True)
class Setting:
    key: str                       # the YAML key under env:
    sysctl: str | None             # the per-namespace sysctl it sets (None: not a sysctl)
    default: Any                   # the pinned value, as written to the sysctl
    parse: Callable[[Any], Any]
    why: str


SETTINGS: tuple[Setting, ...] = (
    Setting("cc", "net.ipv4.tcp_congestion_control", "cubic", _cc,
            "the kernel's own default; hosts tuned for BBR would otherwise hand it to every node"),
    Setting("ecn", "net.ipv4.tcp_ecn", 2, _choice(0, 1, 2),
            "kernel default: answer ECN when asked, never ask (0 off, 1 ask)"),
    Setting("tcp_rmem", "net.ipv4.tcp_rmem", "4096 131072 6291456", _triple,
            "the receive window's ceiling caps a flow on a long fat link; kernels before 6.x and most hosts "
            "use a 6 MiB ceiling, some newer ones 32 MiB"),
    Setting("tcp_wmem", "net.ipv4.tcp_wmem", "4096 16384 4194304", _triple,
            "the send buffer's ceiling decides how much data can sit in a bloated queue"),
    Setting("no_metrics_save", "net.ipv4.tcp_no_metrics_save", 1, _bool01,
            "otherwise a connection starts from the ssthresh and RTT the previous one to the same host "
            "left behind, so run 2 differs from run 1"),
    Setting("slow_start_after_idle", "net.ipv4.tcp_slow_start_after_idle", 1, _bool01,
            "kernel default; often turned off on servers, which changes bursty (web-like) flows"),
    Setting("timestamps", "net.ipv4.tcp_timestamps", 1, _choice(0, 1, 2), "kernel default (RTT measurement, PAWS)"),
    Setting("sack", "net.ipv4.tcp_sack", 1, _bool01, "kernel default (selective acknowledgements)"),
    Setting("window_scaling", "net.ipv4.tcp_window_scaling", 1, _bool01,
            "kernel default; without it a window is capped at 64 KiB"),
    Setting("mtu_probing", "net.ipv4.tcp_mtu_probing", 0, _choice(0, 1, 2), "kernel default"),
    Setting("notsent_lowat", "net.ipv4.tcp_notsent_lowat", 4294967295, _bytes,
            "kernel default (no limit); lowered on some hosts to cut sender-side latency"),
    Setting("autocorking", "net.ipv4.tcp_autocorking", 1, _bool01, "kernel default"),
    Setting("offloads", None, False, lambda v: bool(_bool01(v)),
            "TSO, GSO and GRO on every interface of ours: off, so every frame on an emulated link is at "
            "most one MTU, as on a real radio, and packet counts do not depend on the driver"),
    Setting("qdisc", None, "pfifo_fast", _qdisc,
            "the root queueing discipline of every interface of ours: the kernel's own default; a new interface "
            "otherwise gets the host's net.core.default_qdisc, and hosts set fq (which paces every TCP flow, "
            "CUBIC too, smoothing the bursts the emulated link's queue would see) or fq_codel"),
    Setting("dns", None, None, _address,
            "the resolver a node's programs ask: none, so an unknown name or a reverse lookup fails at once "
            "and node names come from the node's /etc/hosts; the host's resolver is not reachable from a "
            "node, and asking it stalled every lookup 5 s"),
)
BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
# how each setting that is not a sysctl is applied
HOW = {"offloads": "ethtool -K tso/gso/gro", "qdisc": "tc qdisc replace dev IF root",
       "dns": "the node's own /etc/resolv.conf"}
# global sysctls a namespace cannot pin: recorded in the manifest (docs/environment.md says why each
# cannot change our results, or how little)
HOST_ONLY_SYSCTLS = ("net.core.rmem_max", "net.core.wmem_max", "net.core.rmem_default", "net.core.wmem_default",
                     "net.core.default_qdisc", "net.ipv4.tcp_available_congestion_control")


def parse_env(data: Any, add: Callable[[tuple, str], None], path: tuple) -> dict[str, Any]:
    """An `env:` mapping -> {key: value as the sysctl takes it}; problems go to add(path, message)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        add(path, f"expected a mapping of settings ({', '.join(BY_KEY)}), got {data!r}")
        return {}
    out: dict[str, Any] = {}
    for k, v in data.items():
        if k not in BY_KEY:
            add(path + (k,), unknown("env setting", str(k), BY_KEY))
            continue
        try:
            out[k] = BY_KEY[k].parse(v)
        except ValueError as e:
            add(path + (k,), str(e))
    return out


def resolve(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """The pinned defaults overlaid by each layer in turn (topology defaults, then a node's own)."""
    out = {s.key: s.default for s in SETTINGS}
    for layer in layers:
        out.update(layer)
    return out


def sysctl_args(env: Mapping[str, Any]) -> list[str]:
    """["net.ipv4.tcp_congestion_control=cubic", ...] for `sysctl -w`."""
    return [f"{BY_KEY[k].sysctl}={v}" for k, v in env.items() if BY_KEY[k].sysctl]


def qdisc_lines(devs: list[str], kind: str) -> list[str]:
    """`tc -batch` lines that give each interface the pinned root qdisc."""
    return [f"qdisc replace dev {d} root {kind}" for d in devs]


def qdisc_fix(kind: str) -> str:
    """How to get a qdisc this kernel lacks."""
    cfg = LINUX_QDISCS.get(kind) or f"NET_SCH_{kind.upper()}"
    return (f"load it on the host as root: modprobe sch_{kind} (on kernels without module loading, use one built "
            f"with CONFIG_{cfg}=y), or pin one every kernel has: env: {{qdisc: pfifo_fast}}")


def wanted(topo: Any, key: str) -> dict[str, str]:
    """{value of an env setting: who asks for it} over every node of a topology (the pinned default included)."""
    out: dict[str, str] = {}
    for n in topo.nodes:
        v = topo.node_env(n.name)[key]
        who = (f'node "{n.name}"' if key in dict(n.env) else
               "the topology's defaults.env" if key in dict(topo.env) else "testbed's pinned default")
        out.setdefault(v, who)
    return out


def wanted_qdiscs(topo: Any) -> dict[str, str]:
    """{qdisc: who asks for it} for every node of a topology."""
    return wanted(topo, "qdisc")


def check_qdiscs(wanted: Mapping[str, str]) -> None:
    """Raise CapabilityError (exit 3) for a root qdisc the kernel lacks; wanted: {qdisc: who asks}.

    Tried on the loopback of a throwaway network namespace (gone when tc exits), so nothing of the
    host's changes; the kernel's built-in ones (pfifo_fast, noqueue) need no try.
    """
    for kind, who in wanted.items():
        if LINUX_QDISCS.get(kind) is None:
            continue
        for prog, pkg in (("tc", "iproute2"), ("unshare", "util-linux")):
            if shutil.which(prog) is None:
                raise CapabilityError(f'the program "{prog}" is not installed', f"apt-get install {pkg}")
        cp = subprocess.run(["unshare", "--net", "tc", "qdisc", "replace", "dev", "lo", "root", kind],
                            capture_output=True, text=True, timeout=30)
        if cp.returncode != 0:
            raise CapabilityError(f'{who} asks for the queueing discipline "{kind}", which this kernel does not '
                                  f"have (tc: {cp.stderr.strip() or cp.returncode})", qdisc_fix(kind))


def offload_argv(dev: str, on: bool) -> list[str]:
    state = "on" if on else "off"
    return ["ethtool", "-K", dev, "tso", state, "gso", state, "gro", state]


def available_cc() -> list[str]:
    try:
        return Path("/proc/sys/net/ipv4/tcp_available_congestion_control").read_text().split()
    except OSError:
        return []


def check_cc(wanted: Mapping[str, str], available: list[str] | None = None) -> None:
    """Raise CapabilityError (exit 3) for a congestion control the kernel lacks; wanted: {cc: who asks}."""
    have = available_cc() if available is None else available
    if not have:
        return
    for cc, who in wanted.items():
        if cc not in have:
            cfg = CC_CONFIG.get(cc, cc.upper())
            raise CapabilityError(
                f'{who} asks for TCP congestion control "{cc}", which this kernel does not have '
                f"(available: {', '.join(have)})",
                f"load it on the host as root: modprobe tcp_{cc} (on kernels without module loading, use one "
                f"built with CONFIG_TCP_CONG_{cfg}=y), or choose one of: {', '.join(have)}")


def host_values() -> dict[str, Any]:
    """The host's own values of every pinned sysctl and the global ones a namespace cannot pin."""
    out: dict[str, Any] = {}
    for name in [s.sysctl for s in SETTINGS if s.sysctl] + list(HOST_ONLY_SYSCTLS):
        try:
            out[name] = " ".join(Path("/proc/sys", *name.split(".")).read_text().split())
        except OSError:
            out[name] = None
    return out


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def host_info() -> dict[str, Any]:
    """The host at the start of a run: CPU model, cores, load average, kernel and its own values of every
    pinned setting (for the manifest: what differed between two machines)."""
    try:
        load: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {"cpu_model": cpu_model(), "cores": os.cpu_count(), "loadavg": load, "kernel": platform.release(),
            "sysctls": host_values()}


def table_markdown() -> str:
    """The settings as a markdown table (docs/environment.md is checked against it)."""
    rows = ["| env key | sysctl | pinned value | why |", "|---|---|---|---|"]
    for s in SETTINGS:
        val = ("off" if not s.default else "on") if s.key == "offloads" else \
            "none" if s.default is None else s.default
        rows.append(f"| `{s.key}` | {f'`{s.sysctl}`' if s.sysctl else HOW[s.key]} | `{val}` | {s.why} |")
    return "\n".join(rows)


def wanted_cc(topo: Any) -> dict[str, str]:
    """{cc: who asks for it} for every node of a topology (the pinned default included)."""
    return wanted(topo, "cc")


ALLOWED = Path("/proc/sys/net/ipv4/tcp_allowed_congestion_control")


def allow_cc(ccs: set[str], path: Path = ALLOWED) -> list[str]:
    """Add congestion controls to the host's allowed list; returns those added.

    Linux lets a namespace other than the host's pick as its default only a congestion control
    on this global list (EPERM otherwise), and a host whose default is BBR often lists only
    "reno bbr". Adding a name only lets unprivileged programs choose it too; nothing is removed,
    so concurrent runs are never disturbed.
    """
    try:
        allowed = path.read_text().split()
    except OSError:
        return []
    missing = sorted(c for c in ccs if c not in allowed)
    if missing:
        path.write_text(" ".join(allowed + missing) + "\n")
    return missing

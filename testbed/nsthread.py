"""Work inside another network namespace from one thread of this process, with no child process.

setns(2) with CLONE_NEWNET moves only the calling thread, so a worker thread can step into a
node's namespace, open what it needs there (a socket, a /proc/sys/net file, /dev/net/tun: each
stays bound to the namespace it was opened in) and step back. Bring-up of a 500-router district
sets ~11,000 sysctls and offloads on 1,418 interfaces: as processes (`sysctl`, `ethtool` through `mnexec`)
that is ~2,000 fork+exec under load; as writes and ioctls from threads, a fraction of a second.

Plain Python (ctypes; pyroute2 for ethtool): no Mininet here, so the link engine can use it too.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import EmulationError

CLONE_NEWNET = 0x40000000


def setns_fd(fd: int) -> None:
    """Move the calling thread into the network namespace that fd (an open ns/net file) names."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise EmulationError(f"cannot enter a network namespace: {os.strerror(err)}")


@contextmanager
def entered(netns_fd: int) -> Iterator[None]:
    """The calling thread is in netns_fd's namespace inside the block, back in its own after."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns_fd(netns_fd)
        try:
            yield
        finally:
            setns_fd(home)
    finally:
        os.close(home)


@contextmanager
def in_netns_of(pid: int) -> Iterator[None]:
    """The calling thread is in process pid's network namespace inside the block."""
    try:
        fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise EmulationError(f"cannot open the network namespace of pid {pid}: {e.strerror}") from None
    try:
        with entered(fd):
            yield
    finally:
        os.close(fd)


def sysctl_path(key: str) -> str:
    """net.ipv4.ip_forward -> /proc/sys/net/ipv4/ip_forward."""
    return "/proc/sys/" + key.replace(".", "/")


def write_sysctls(pid: int, settings: list[str]) -> None:
    """Write "key=value" settings (as `sysctl -w` takes them) in pid's network namespace."""
    with in_netns_of(pid):
        for setting in settings:
            key, _, value = setting.partition("=")
            try:
                with open(sysctl_path(key), "w") as f:
                    f.write(value)
            except OSError as e:
                raise EmulationError(f"sysctl {key}={value} failed: {e.strerror or e}") from None


def offload_features(names: list[str]) -> list[str]:
    """The kernel feature names behind `ethtool -K DEV tso/gso/gro`: every tx-tcp*-segmentation (kernels add
    kinds: 6.18 has tx-tcp-accecn-segmentation, which the old one-flag TSO request leaves on), GSO, GRO."""
    return [n for n in names if (n.startswith("tx-tcp") and n.endswith("segmentation"))
            or n in ("tx-generic-segmentation", "rx-gro")]


def set_offloads(pid: int, devs: list[str], on: bool) -> None:
    """TSO, GSO and GRO on or off on each of devs, in pid's network namespace (pyroute2's ethtool: the
    SIOCETHTOOL features ioctl that `ethtool -K` uses, from a socket made inside the namespace)."""
    from pyroute2.ethtool import Ethtool
    with in_netns_of(pid):
        tool = Ethtool()
        try:
            for dev in devs:
                try:
                    feats = tool.get_features(dev)
                    change = [n for n in offload_features(list(feats.features))
                              if feats.features[n].available and feats.features[n].enable != on]
                    for n in change:
                        feats.features[n].enable = on
                    if change:
                        tool.set_features(dev, feats)
                except OSError as e:
                    raise EmulationError(f"{dev}: could not turn TSO/GSO/GRO {'on' if on else 'off'}: "
                                         f"{e.strerror or e}") from None
        finally:
            tool.close()

"""Work inside another network namespace from one thread of this process, with no child process.

setns(2) with CLONE_NEWNET moves only the calling thread, so a worker thread can step into a
node's namespace, open what it needs there (a socket, a /proc/sys/net file, /dev/net/tun: each
stays bound to the namespace it was opened in) and step back. Bring-up of a 500-router district
sets ~11,000 sysctls and 4,000 offload flags: as processes (`sysctl`, `ethtool` through `mnexec`)
that is ~2,000 fork+exec under load; as writes and ioctls from threads, a fraction of a second.

Plain Python (ctypes, fcntl): no Mininet here, so the link engine can use it too.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import EmulationError

CLONE_NEWNET = 0x40000000
SIOCETHTOOL = 0x8946
# Legacy ethtool "set one offload" commands (include/uapi/linux/ethtool.h); `ethtool -K` sends the same
# requests through ETHTOOL_SFEATURES, and both end in the kernel's wanted-features for the device.
ETHTOOL_SET = {"tso": 0x1F, "gso": 0x24, "gro": 0x2C}


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


def set_offloads(pid: int, devs: list[str], on: bool) -> None:
    """TSO, GSO and GRO on or off on each of devs, in pid's network namespace (ioctl SIOCETHTOOL)."""
    with in_netns_of(pid):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # ioctls act in the namespace it was made in
    try:
        for dev in devs:
            for what, cmd in ETHTOOL_SET.items():
                value = ctypes.create_string_buffer(struct.pack("II", cmd, 1 if on else 0))
                ifreq = struct.pack("16sP16x", dev.encode(), ctypes.addressof(value))
                try:
                    fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifreq)
                except OSError as e:
                    raise EmulationError(f"{dev}: could not turn {what} {'on' if on else 'off'}: "
                                         f"{e.strerror or e}") from None
    finally:
        sock.close()

"""What this machine can do, checked before anything starts; a gap is a CapabilityError (exit 3) with the fix.

The one place capabilities are probed: the emulation layer, the link engine, the traffic runners and
the pytest plugin all ask here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import CapabilityError

FRR_DIR = Path("/usr/lib/frr")
TUN = Path("/dev/net/tun")


def check_root(what: str = "emulation", why: str = "it creates network namespaces and interfaces") -> None:
    if os.geteuid() != 0:
        raise CapabilityError(f"{what} needs root ({why})", "run as root, e.g. sudo .venv/bin/testbed ...")


def check_program(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise CapabilityError(f'the program "{name}" is not installed',
                              f"apt-get install {package} (or make setup)")
    return path


def check_frr() -> None:
    for d in ("zebra", "ospfd"):
        if not os.access(FRR_DIR / d, os.X_OK):
            raise CapabilityError(f"OSPF routing needs FRR's {d} ({FRR_DIR / d} is missing)",
                                  "apt-get install frr (or make setup)")
    try:
        import grp
        import pwd
        pwd.getpwnam("frr")
        grp.getgrnam("frr")
    except KeyError:
        raise CapabilityError("OSPF routing needs the frr user and group", "apt-get install frr") from None


def check_tun() -> None:
    """/dev/net/tun exists and opens (the link engine makes its TAP devices through it)."""
    try:
        os.close(os.open(TUN, os.O_RDWR))
    except FileNotFoundError:
        raise CapabilityError(f"{TUN} is missing (the link engine needs TAP devices)",
                              "use a kernel with CONFIG_TUN and create the device node (mknod /dev/net/tun c 10 200)"
                              ) from None
    except OSError as e:
        raise CapabilityError(f"cannot open {TUN}: {e.strerror}", "run as root with CAP_NET_ADMIN") from None


def check_all(routing: str, backends: set[str]) -> None:
    """Every check the plan needs, in the order a user would fix them."""
    check_root()
    check_program("mnexec", "mininet")
    check_program("ip", "iproute2")
    check_program("tc", "iproute2")
    check_program("sysctl", "procps")
    check_program("ping", "iputils-ping")
    if routing == "ospf":
        check_frr()
    if backends & {"engine", "medium"}:
        check_tun()


"""What this machine can do, checked before anything starts; a gap is a CapabilityError (exit 3)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import CapabilityError

FRR_DIR = Path("/usr/lib/frr")
TUN = Path("/dev/net/tun")


def check_root() -> None:
    if os.geteuid() != 0:
        raise CapabilityError("emulation needs root (it creates network namespaces and interfaces)",
                              "run as root, e.g. sudo .venv/bin/testbed ...")


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
    if not TUN.exists():
        raise CapabilityError(f"{TUN} is missing (the link engine needs TAP devices)",
                              "use a kernel with CONFIG_TUN and create the device node (mknod /dev/net/tun c 10 200)")


def has_netem() -> bool:
    """Whether the kernel has sch_netem: the engine's probe when present, else assume not."""
    try:
        from ..engine import probe as engine_probe  # written by the engine's owner
    except ImportError:
        return False
    fn = getattr(engine_probe, "has_netem", None)
    return bool(fn()) if fn else False


def check_all(routing: str, backends: set[str]) -> None:
    """Every check the plan needs, in the order a user would fix them."""
    check_root()
    check_program("mnexec", "mininet")
    check_program("ip", "iproute2")
    check_program("sysctl", "procps")
    check_program("ping", "iputils-ping")
    if routing == "ospf":
        check_frr()
    if "engine" in backends:
        check_tun()
    if "netem" in backends and not has_netem():
        raise CapabilityError("a link asks for the netem backend, but this kernel has no sch_netem",
                              'use backend: engine (or auto) for that link, or a kernel with CONFIG_NET_SCH_NETEM')

"""What this machine can do for link emulation: root, a usable /dev/net/tun, the netem qdisc."""

from __future__ import annotations

import functools
import logging
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass

from .tap import TUN_PATH

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Capabilities:
    """Result of probe(); each *_why says what failed when the feature is missing."""

    root: bool
    tun: bool
    netem: bool
    tun_why: str = ""
    netem_why: str = ""


def _tun_usable() -> tuple[bool, str]:
    try:
        os.close(os.open(TUN_PATH, os.O_RDWR))
        return True, ""
    except OSError as e:
        return False, f"{TUN_PATH}: {e.strerror}"


def _netem_usable() -> tuple[bool, str]:
    """Add a netem qdisc to a throw-away veth (unique name) and remove it again."""
    if shutil.which("tc") is None or shutil.which("ip") is None:
        return False, "tc or ip (iproute2) not installed"
    name = "tbp" + secrets.token_hex(4)
    add = subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"],
                         capture_output=True, text=True)
    if add.returncode != 0:
        return False, f"cannot create a probe interface: {add.stderr.strip()}"
    try:
        cp = subprocess.run(["tc", "qdisc", "add", "dev", name, "root", "netem", "delay", "1ms"],
                            capture_output=True, text=True)
        return cp.returncode == 0, cp.stderr.strip()
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)  # takes its peer along


@functools.lru_cache(maxsize=1)
def probe() -> Capabilities:
    """Probe once per process (cached); probe.cache_clear() to look again."""
    root = os.geteuid() == 0
    tun, tun_why = _tun_usable()
    if root:
        netem, netem_why = _netem_usable()
    else:
        netem, netem_why = False, "not root: cannot test tc qdiscs"
    caps = Capabilities(root, tun, netem, tun_why, netem_why)
    log.info("capabilities: %s", caps)
    return caps

"""Traffic kind -> runner class."""

from __future__ import annotations

from .base import Runner
from .exec_ import ExecRunner
from .http import HttpRunner
from .iperf import TcpRunner, UdpRunner
from .ping import PingRunner
from .scapy_ import ScapyRunner
from .voip import VoipRunner

RUNNERS: dict[str, type[Runner]] = {r.kind: r for r in (TcpRunner, UdpRunner, PingRunner, HttpRunner, VoipRunner,
                                                        ExecRunner, ScapyRunner)}

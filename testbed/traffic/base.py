"""What every traffic runner shares: the run context, the flow result, stopping children."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EmulationError, InputError
from ..probe import check_program
from ..procs import stop_process
from ..safewrite import open_new

if TYPE_CHECKING:   # the scenario layer runs the kinds; they know its model only as types
    from ..network import Network
    from ..scenario.model import TrafficSpec

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What a runner needs from the run: the testbed, where raw output goes, the clocks."""

    tb: Network                   # the running network
    raw_dir: Path
    t0_wall: float                # time.time() at scenario t=0 (all namespaces share this clock)
    t0_mono: float                # time.monotonic() at scenario t=0
    seed: int
    duration_s: float             # scenario duration (after scaling)
    commands: list[dict] = field(default_factory=list)   # every tool run, exactly: {flow, node, argv, t}
    ending: str = ""              # set when the run stops its runners: "end" (completed) or "interrupted"

    def now(self) -> float:
        return time.monotonic() - self.t0_mono

    def record(self, flow: str, node: str, argv: list[str]) -> None:
        self.commands.append({"flow": flow, "node": node, "argv": list(argv), "t": round(self.now(), 6)})


@dataclass
class FlowResult:
    """What one flow measured. Series hold (scenario time s, value in SI units)."""

    name: str
    kind: str
    series: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    probes: list[tuple[float, bool]] = field(default_factory=list)   # (send time, answered)
    summary: dict[str, Any] = field(default_factory=dict)
    raw: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "summary": self.summary, "error": self.error,
                "raw": self.raw,
                "series": {k: [[round(t, 6), v] for t, v in s] for k, s in self.series.items()},
                "probes": [[round(t, 6), ok] for t, ok in self.probes]}


def said(out: Path, limit: int = 300) -> str:
    """": <what a program said last>" from its output file (a JSON "error" when it wrote JSON), or ""."""
    try:
        text = out.read_text(errors="replace")[-20000:].strip()
    except OSError:
        return ""
    try:
        doc = json.loads(text)
        last = str(doc.get("error") or "") if isinstance(doc, dict) else ""
    except ValueError:
        last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "")
    return f": {last[:limit]}" if last else ""


def need_program(name: str, package: str) -> str:
    return check_program(name, package)


class Runner:
    """check() (before bring-up) -> start() -> stop() -> result() (reads raw output, calls parse)."""

    kind = ""
    programs: tuple[tuple[str, str], ...] = ()      # (program, Debian package)

    def __init__(self, spec: TrafficSpec, ctx: RunContext, index: int) -> None:
        self.spec = spec
        self.ctx = ctx
        self.index = index
        self.procs: list[subprocess.Popen] = []
        self.files: list[Path] = []
        self.started_at: float | None = None   # scenario time the main program was launched

    @property
    def src(self) -> str:
        """The node the flow runs from (or on): every kind has one, the loader sees to it."""
        if self.spec.src is None:
            raise InputError(f"flow {self.spec.name}: no node to run from")
        return self.spec.src

    @property
    def dst(self) -> str:
        """The node the flow goes to (kinds with endpoints "pair")."""
        if self.spec.dst is None:
            raise InputError(f"flow {self.spec.name}: no node to send to")
        return self.spec.dst

    @classmethod
    def check(cls) -> None:
        for prog, pkg in cls.programs:
            need_program(prog, pkg)

    def port(self) -> int:
        return int(self.spec.options.get("port") or 5201 + self.index)

    def out(self, suffix: str) -> Path:
        p = self.ctx.raw_dir / f"{self.spec.name}.{suffix}"
        self.files.append(p)
        return p

    def spawn(self, node: str, argv: list[str], out: Path, err: Path | None = None) -> subprocess.Popen:
        self.ctx.record(self.spec.name, node, argv)
        # raw/ lies in the results folder: fresh files, never through a symlink (testbed/safewrite.py)
        if err == out:      # one file, in the order the program wrote
            with open_new(out, what="raw output folder") as fo:
                p = self.ctx.tb.node(node).popen(argv, stdout=fo, stderr=subprocess.STDOUT)
        else:
            err = err or out.with_suffix(out.suffix + ".err")
            self.files.append(err)
            with open_new(out, what="raw output folder") as fo, open_new(err, what="raw output folder") as fe:
                p = self.ctx.tb.node(node).popen(argv, stdout=fo, stderr=fe)
        self.procs.append(p)
        return p

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        # stop in reverse: clients before their servers, so clients report what they saw
        for p in reversed(self.procs):
            stop_process(p)

    def require_listening(self, node: str, port: int, server: subprocess.Popen, out: Path,
                          timeout_s: float = 5.0) -> None:
        """Wait until `server`, the process just started, listens on TCP `port` in `node`.

        Raises EmulationError naming the flow when it exits first or does not listen in time. Its own
        pid must hold the socket: a port already taken by another program would otherwise answer the
        client, and the flow would measure the wrong server."""
        deadline = time.monotonic() + timeout_s
        while True:
            cp = self.ctx.tb.node(node).ctl(["ss", "-Hltnp", f"sport = :{port}"], timeout=5)
            if f"pid={server.pid}," in cp.stdout:
                return
            if server.poll() is not None:
                raise EmulationError(f'flow "{self.spec.name}": its server in {node} exited (code {server.returncode}) '
                                     f"before listening on TCP port {port}{said(out)}")
            if time.monotonic() >= deadline:
                held = f"; the port is held by another program: {cp.stdout.strip()[:200]}" if cp.stdout.strip() else ""
                raise EmulationError(f'flow "{self.spec.name}": its server in {node} was not listening on TCP port '
                                     f"{port} after {timeout_s:g} s{held}")
            time.sleep(0.05)

    def running(self) -> bool:
        return any(p.poll() is None for p in self.procs[-1:])

    def result(self) -> FlowResult:
        raise NotImplementedError

    def rel_wall(self, t_wall: float) -> float:
        return t_wall - self.ctx.t0_wall

    def remaining_s(self) -> float:
        return max(0.5, self.spec.end_s(self.ctx.duration_s) - self.ctx.now())

    def new_result(self) -> FlowResult:
        return FlowResult(self.spec.name, self.spec.kind, raw=[f.name for f in self.files if f.exists()])

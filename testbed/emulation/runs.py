"""Running networks as a second terminal sees them: found through their marker folders.

Every run writes /run/testbed/<run id>/ (run.json: topology, owner; procs.jsonl: each node's
shell with its start time), so another process can list the networks that are up and enter a
node's namespaces (`mnexec -a PID`) without talking to the process that brought it up.
Nothing here imports Mininet.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from ..errors import UsageError, unknown
from . import names
from .clean import list_runs, owner_alive, run_info
from .registry import read_records, still_ours

SHELL_TOKEN = "mininet:"
POWER_FILE = "off.json"      # the nodes powered off now, written by the run at each power change


@dataclass(frozen=True)
class RunningNetwork:
    run_id: str
    topology: str
    file: str
    created: float
    owner_pid: int
    workdir: str
    nodes: dict[str, int] = field(default_factory=dict)   # node name -> pid holding its namespaces
    off: tuple[str, ...] = ()                              # nodes powered off now

    @property
    def age_s(self) -> float:
        return max(0.0, time.time() - self.created)

    def to_dict(self) -> dict:
        return {"run_id": self.run_id, "topology": self.topology, "file": self.file,
                "created": self.created, "age_s": round(self.age_s, 1), "owner_pid": self.owner_pid,
                "workdir": self.workdir, "nodes": list(self.nodes), "off": list(self.off)}


def _nodes(run_id: str) -> dict[str, int]:
    """Node name -> shell pid, for the shells that are still the same processes."""
    prefix = f"{SHELL_TOKEN}{names.tag(run_id)}-"
    out: dict[str, int] = {}
    for rec in read_records(names.marker_dir(run_id)):
        if rec.role == "shell" and rec.token.startswith(prefix) and still_ours(rec):
            out[rec.token[len(prefix):]] = rec.pid
    return out


def _off(run_id: str) -> tuple[str, ...]:
    try:
        data = json.loads((names.marker_dir(run_id) / POWER_FILE).read_text())
    except (OSError, ValueError):
        return ()
    return tuple(str(n) for n in data) if isinstance(data, list) else ()


def running() -> list[RunningNetwork]:
    """Every network whose owner process still lives, oldest first."""
    out = []
    for rid in list_runs():
        info = run_info(rid)
        if not info or not owner_alive(info):
            continue
        out.append(RunningNetwork(rid, str(info.get("topology", "?")), str(info.get("file", "")),
                                  float(info.get("created", 0.0)), int(info.get("owner_pid", 0)),
                                  str(info.get("workdir", "")), _nodes(rid), _off(rid)))
    return sorted(out, key=lambda n: n.created)


def find(run: str | None, nets: list[RunningNetwork] | None = None) -> RunningNetwork:
    """The running network named by run id or topology name; None: the only one running."""
    nets = running() if nets is None else nets
    if not nets:
        raise UsageError("no network is running; bring one up with `testbed up TOPOLOGY` "
                         "(or `testbed run SCENARIO`)")
    if run is None:
        if len(nets) > 1:
            raise UsageError(f"{len(nets)} networks are running; name one: "
                             + ", ".join(f"{n.run_id} ({n.topology})" for n in nets))
        return nets[0]
    hits = [n for n in nets if run in (n.run_id, n.topology)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise UsageError(f'several running networks use topology "{run}"; name one by run id: '
                         + ", ".join(n.run_id for n in hits))
    raise UsageError(unknown("running network", run, [n.run_id for n in nets] + [n.topology for n in nets]))


def node_pid(net: RunningNetwork, node: str) -> int:
    """The pid to enter for a node; an unknown or powered-off node is a UsageError saying so."""
    if node not in net.nodes:
        raise UsageError(unknown(f"node of run {net.run_id}", node, net.nodes))
    if node in net.off:
        raise UsageError(f"{node} is powered off in run {net.run_id}: its links carry nothing and its "
                         f"programs were stopped; power it on first (`node-up {node}` at the run's prompt)")
    return net.nodes[node]


def split_run(words: list[str], nets: list[RunningNetwork]) -> tuple[str | None, list[str]]:
    """`[RUN] NODE CMD...`: the first word is RUN when it names a running network with a node
    called as the second word (so a node that shares a name with a run still works)."""
    if len(words) >= 2:
        first = words[0]
        named = [n for n in nets if first in (n.run_id, n.topology)]
        if named and any(words[1] in n.nodes for n in named):
            return first, words[1:]
        if named and not any(first in n.nodes for n in nets):
            return first, words[1:]    # a run was meant; its node is misspelled: say so later
    return None, words

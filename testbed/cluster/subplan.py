"""One server's part of a network spread over a cluster: pure, no root (docs/cluster.md, "Bring-up").

Every server runs an ordinary Testbed on its own part of the one global plan, so a node keeps the
addresses, interface names, loopback and link parameters the whole plan gave it. A cut link (its ends on
two servers) becomes, on each of its two servers, a link from the local end to a **stand-in**: an external
node whose port is that server's tunnel device to the other server (names.cut_device). The frames of a cut
link therefore cross two engine links and one tunnel:

    a --[engine on a's server: the link's impairments, both directions]-- tunnel ==underlay==
        tunnel --[engine on b's server: a plain wire of the link's MTU]-- b

so its delay, loss, rate, faults and counters apply exactly once, on the server of the link's first
endpoint (`a` as the topology writes it), which owns the link. The stand-in keeps the kind of the node it
stands for in Plan.stand_ins, so FRR talks OSPF across the cut as on one machine.

Limits, each a located error: routing must be OSPF (static routes are computed over the whole plan and
would need every server's routes; OSPF computes them itself), and a cut may not split a LAN or a shared
radio sector (a bridge or a medium spans one server).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import InputError, Problem
from ..linkparams import DirectionParams, LinkParams
from ..topology.model import LAN_KINDS, Node
from ..topology.nameservice import own_names
from ..topology.plan import Plan, PlanLink, PlanNode

VXLAN_PORT = 4789          # IANA's VXLAN port
VNI_BASE = 1 << 20         # a run's VNIs: run id (20 bits) mixed with the cut's index, kept in 24 bits


@dataclass(frozen=True)
class Cut:
    """A link whose two ends run on different servers, and its tunnel."""

    index: int
    link: str
    owner: str           # the server of the link's first endpoint: its engine applies the link's parameters
    other: str           # the server of its second endpoint
    vni: int
    mtu: int             # the largest frame the link carries (both ends' interfaces have it)

    def server_of(self, end: str) -> str:
        return self.owner if end == "a" else self.other


def vni(run_id: str, index: int) -> int:
    """A VXLAN network id for one cut of one run: distinct per cut, and unlikely to meet another run's."""
    return (int(run_id, 16) * 4099 + index) % ((1 << 24) - VNI_BASE) + VNI_BASE


def cuts(plan: Plan, assignment: dict[str, str], run_id: str) -> list[Cut]:
    """The cut links of a placement, in plan order; InputError (located) when a cut cannot be made."""
    problems: list[Problem] = []
    if plan.routing != "ospf":
        problems.append(Problem(plan.topology.file, 0, 0, "defaults.routing",
                                f'a network spread over servers needs routing: ospf, not "{plan.routing}": static '
                                "routes are computed over the whole plan, OSPF finds them across the cuts itself"))
    kinds = {n: pn.kind for n, pn in plan.nodes.items()}
    out: list[Cut] = []
    for lk in plan.links:
        sa, sb = assignment[lk.a.node], assignment[lk.b.node]
        if sa == sb:
            continue
        if lk.backend == "medium" or kinds[lk.a.node] in LAN_KINDS or kinds[lk.b.node] in LAN_KINDS:
            line, col = plan.topology.marks.get(f"link:{lk.index}", (0, 0))
            problems.append(Problem(plan.topology.file, line, col, f"links.{lk.name}",
                                    f"link {lk.name} would join {lk.a.node} on {sa} to {lk.b.node} on {sb}, but a LAN "
                                    "or a radio sector runs on one server; pin its members to one server (a node's "
                                    "`server:` or the inventory's `placement:`)"))
            continue
        mtu = max(lk.params.ab.mtu, lk.params.ba.mtu)
        out.append(Cut(len(out), lk.name, sa, sb, vni(run_id, len(out)), mtu))
    if problems:
        raise InputError(problems)
    return out


def stand_in_name(cut: Cut, node: str) -> str:
    """The stand-in for `node` on the far side of one cut (a node may be the far end of several cuts)."""
    return f"cut{cut.index}-{node}"


def server_plan(plan: Plan, assignment: dict[str, str], server: str, cut_list: list[Cut],
                device: dict[str, str]) -> Plan:
    """The part of `plan` that runs on `server`: its nodes, the links among them, and each of its cuts to a
    stand-in whose port is `device[cut.link]` (this server's tunnel device for that cut)."""
    topo = plan.topology
    here = {n for n, s in assignment.items() if s == server}
    by_link = {c.link: c for c in cut_list}
    nodes: dict[str, PlanNode] = {}
    renamed: dict[tuple[str, str], str] = {}   # (local node, link) -> the stand-in its interface now faces
    stand_ins: dict[str, str] = {}
    links: list[PlanLink] = []
    tlinks = []
    tnodes: list[Node] = [n for n in topo.nodes if n.name in here]
    for lk in plan.links:
        ina, inb = lk.a.node in here, lk.b.node in here
        if not (ina or inb):
            continue
        if ina and inb:
            links.append(lk)
            tlinks.append(topo.link(lk.name))
            continue
        cut = by_link[lk.name]
        local, far = (lk.a, lk.b) if ina else (lk.b, lk.a)
        name = stand_in_name(cut, far.node)
        if name in plan.nodes:
            raise InputError([Problem(topo.file, 0, 0, f"nodes.{name}", f'node name "{name}" is taken by the stand-in '
                                      f"of cut link {lk.name}; rename the node")])
        dev = device[lk.name]
        stand_ins[name] = plan.nodes[far.node].kind
        renamed[(local.node, lk.name)] = name
        far_intf = replace(far, node=name, name=dev)
        local_intf = replace(local, peer=name)
        params = lk.params if ina else LinkParams(ab=DirectionParams(mtu=lk.params.ab.mtu),
                                                  ba=DirectionParams(mtu=lk.params.ba.mtu))
        a, b = (local_intf, far_intf) if ina else (far_intf, local_intf)
        links.append(replace(lk, a=a, b=b, params=params, backend="engine"))
        nodes[name] = PlanNode(name, "external", (far_intf,))
        tnodes.append(Node(name=name, kind="external", interface=dev,
                           description=f"stands for {far.node} on {assignment[far.node]} (cut link {lk.name})"))
        tl = topo.link(lk.name)
        ta, tb = (tl.a, replace(tl.b, node=name)) if ina else (replace(tl.a, node=name), tl.b)
        tlinks.append(replace(tl, a=ta, b=tb, params=params, backend="engine"))
    for n in here:
        pn = plan.nodes[n]
        if any((n, i.link) in renamed for i in pn.interfaces):
            pn = replace(pn, interfaces=tuple(replace(i, peer=renamed.get((n, i.link), i.peer))
                                              for i in pn.interfaces))
        nodes[n] = pn
    ordered = {n: nodes[n] for n in [*plan.nodes, *stand_ins] if n in nodes}
    sub_topo = replace(topo, nodes=tuple(tnodes), links=tuple(tlinks),
                       sectors=tuple(s for s in topo.sectors if s.name in here))
    lans = tuple(lan for lan in plan.lans if lan.name in here)
    return Plan(sub_topo, ordered, tuple(links), lans, plan.routing, plan.notes, stand_ins=stand_ins,
                names=tuple(own_names(plan)))

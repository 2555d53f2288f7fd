"""What a node's name lookups read: its /etc/hosts, /etc/resolv.conf and the hosts line of
/etc/nsswitch.conf (pure; emulation/mounts.py puts them in place).

A node must never ask the host's resolver: the host's nameserver is not reachable from a node (a
host node's default route carries the query into the emulated network, where it vanishes, and
glibc waits 5 s per try), and what it answers depends on the host. So names of nodes come from
/etc/hosts, and without `env: {dns: ADDRESS}` a node has no resolver at all: nsswitch asks only
`files`, and resolv.conf names no nameserver, so an unknown name or a reverse lookup fails at
once whichever resolver library a program uses. docs/environment.md has the measurements.
"""

from __future__ import annotations

from .plan import Plan

HOSTS_DB = "hosts:"


def hosts_text(plan: Plan, run_id: str) -> str:
    """An /etc/hosts naming every node that has an address (routers by their loopback)."""
    lines = [f"# testbed run {run_id}: {plan.topology.name}", "127.0.0.1\tlocalhost",
             "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{address}\t{name}" for name, address in plan.names or own_names(plan)]
    return "\n".join(lines) + "\n"


def own_names(plan: Plan) -> list[tuple[str, str]]:
    """(name, address) of every node of the plan that has an address (routers by their loopback)."""
    return [(name, plan.address_of(name)) for name, pn in plan.nodes.items()
            if pn.kind not in ("switch", "sector") and (pn.loopback or pn.addresses)]


def resolv_text(dns: str | None, run_id: str) -> str:
    """A node's /etc/resolv.conf: the user's own resolver (env.dns), or none at all."""
    if dns is None:
        # With no nameserver line glibc would still try 127.0.0.1:53 (refused at once when nothing
        # listens); nsswitch_text keeps DNS out of lookups entirely, this covers programs that read
        # resolv.conf themselves (dig, Go, c-ares): short timeouts should a node run a server on :53.
        return (f"# testbed run {run_id}: no resolver; node names are in /etc/hosts "
                "(env: {dns: ADDRESS} names one)\noptions timeout:1 attempts:1\n")
    return f"# testbed run {run_id}: the resolver env.dns names\nnameserver {dns}\n"


def nsswitch_text(host_text: str, dns: bool) -> str:
    """The host's /etc/nsswitch.conf with its hosts line replaced: `files`, then `dns` if the node has a resolver.

    Only the hosts line changes (users and groups still come from where the host says). The host's
    own line may add `myhostname` (answers the host's name with the host's addresses, which a node
    does not have), `mdns4_minimal` (multicast queries) or `resolve` (systemd-resolved over D-Bus):
    all host-dependent, none meaningful in a node.
    """
    line = "hosts:          files dns" if dns else "hosts:          files"
    out, seen = [], False
    for raw in host_text.splitlines():
        if raw.split("#", 1)[0].strip().startswith(HOSTS_DB):
            if not seen:
                out.append(line)
            seen = True
            continue
        out.append(raw)
    if not seen:
        out.append(line)
    return "\n".join(out) + "\n"

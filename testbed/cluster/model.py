"""The cluster inventory as a frozen model: the servers a topology may be spread over (pure, no root)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Bytes a cut link's tunnel adds to each frame the nodes send, on top of the underlay's IP MTU.
# gretap with a key: outer IPv4 20 + GRE 4 + key 4 + the inner Ethernet header 14 = 42. The kernel
# computes exactly this (net/ipv4/ip_tunnel.c ip_tunnel_bind_dev: mtu -= t_hlen + hard_header_len for an
# ARPHRD_ETHER tunnel; gre_calc_hlen adds 4 for the key): a gretap on a 1500-byte underlay gets MTU 1458.
# vxlan: outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14 = 50 (measured: 1450 on a 1500-byte device).
TUNNEL_OVERHEAD = {"gretap": 42, "vxlan": 50}
TUNNELS = tuple(TUNNEL_OVERHEAD)
DEFAULT_SSH_PORT = 22


@dataclass(frozen=True)
class Server:
    """One machine of the cluster, as the inventory describes it."""

    name: str
    address: str                     # what ssh connects to (a host name or an address)
    cores: int
    mtu: int                         # the underlay's MTU: the largest IP packet one server sends another
    user: str = "root"
    port: int = DEFAULT_SSH_PORT
    memory_bytes: int | None = None
    tunnel_address: str | None = None   # the address tunnels end on, when not the ssh address
    identity: str | None = None         # ssh private key file, when not the user's default
    python: str = "python3"             # the interpreter testbed is installed for on that server

    @property
    def endpoint(self) -> str:
        return self.tunnel_address or self.address

    @property
    def login(self) -> str:
        return f"{self.user}@{self.address}"


@dataclass(frozen=True)
class Cluster:
    """The servers, the tunnel kind of cut links, and the placement the inventory fixes."""

    servers: tuple[Server, ...]
    tunnel: str = "gretap"
    name: str = ""
    placement: tuple[tuple[str, str], ...] = ()   # (node, server) pairs the inventory fixes
    ssh_config: str | None = None                  # an ssh_config file for every connection (ssh -F)
    file: str = ""
    # where each server, its keys and each placement entry were written, for located errors later
    marks: dict[str, tuple[int, int]] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def overhead(self) -> int:
        return TUNNEL_OVERHEAD[self.tunnel]

    def server(self, name: str) -> Server:
        for s in self.servers:
            if s.name == name:
                return s
        raise KeyError(name)

    def index(self, name: str) -> int:
        return [s.name for s in self.servers].index(name)

    @property
    def server_names(self) -> list[str]:
        return [s.name for s in self.servers]

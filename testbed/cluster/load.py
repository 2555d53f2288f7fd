"""cluster.yaml -> frozen Cluster, reporting every problem of the file at once, each located."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

from .. import units
from ..errors import InputError, excerpt, unknown
from ..topology.load import NAME_RE, not_a
from ..topology.params import Problems
from ..yamlsource import Source, load_yaml
from .model import DEFAULT_SSH_PORT, TUNNELS, Cluster, Server

TOP_KEYS = ("name", "description", "tunnel", "ssh_config", "servers", "placement")
SERVER_KEYS = ("name", "address", "user", "port", "cores", "memory", "mtu", "tunnel_address", "identity", "python",
               "description")
REQUIRED = ("name", "address", "cores", "mtu")
# ssh takes an argument starting with "-" as an option (-oProxyCommand=... runs a command): never let one through
HOST_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.:-]{0,252}\Z")
USER_RE = re.compile(r"\A[a-z_][a-z0-9_.-]{0,31}\Z")
PROGRAM_RE = re.compile(r"\A[A-Za-z0-9_/.+-]{1,255}\Z")
MAX_CORES = 4096
MTU_RANGE = (576, 65535)


def looks_like_cluster(data: Any) -> bool:
    """A YAML document whose top level has `servers:` (and none of a topology's or scenario's keys)."""
    return isinstance(data, dict) and "servers" in data and not {"nodes", "topology", "scenario"} & set(data)


def load_cluster(file: str | Path, text: str | None = None) -> Cluster:
    """Load and validate a cluster inventory; raises InputError listing every problem found."""
    return build_cluster(load_yaml(file, text), Path(file).parent)


def build_cluster(src: Source, base_dir: Path) -> Cluster:
    if (wrong := not_a(src, TOP_KEYS, "cluster inventory")) is not None:
        raise wrong
    pr = Problems(src)
    data = pr.mapping(src.data, (), "a cluster inventory")
    if data is None:
        raise InputError(pr.items)
    pr.check_keys(data, TOP_KEYS, (), "cluster inventory")
    name = data.get("name", "")
    if not isinstance(name, str) or (name and not NAME_RE.match(name)):
        pr.add(("name",), f"a cluster name must be letters, digits, '-', '_' or '.', got {excerpt(name)}")
        name = ""
    tunnel = data.get("tunnel", "gretap")
    if tunnel not in TUNNELS:
        pr.add(("tunnel",), unknown("tunnel kind", str(tunnel), TUNNELS))
        tunnel = "gretap"
    ssh_config = _file(pr, data.get("ssh_config"), ("ssh_config",), base_dir)
    marks: dict[str, tuple[int, int]] = {}
    servers = _servers(pr, data.get("servers"), base_dir, marks)
    placement = _placement(pr, data.get("placement"), [s.name for s in servers], marks)
    if pr.items:
        raise InputError(sorted(pr.items, key=lambda p: (p.line, p.col)))
    return Cluster(servers=tuple(servers), tunnel=tunnel, name=name, placement=placement, ssh_config=ssh_config,
                   file=src.file, marks=marks)


def _servers(pr: Problems, data: Any, base_dir: Path, marks: dict[str, tuple[int, int]]) -> list[Server]:
    out: list[Server] = []
    if data is None:
        pr.add((), 'a cluster inventory needs "servers": a list of {name, address, cores, mtu}')
        return out
    if not isinstance(data, list) or not data:
        pr.add(("servers",), "expected a list of servers, each {name, address, cores, mtu}")
        return out
    seen: dict[str, int] = {}
    logins: dict[tuple[str, int], int] = {}
    for i, body in enumerate(data):
        path: tuple[Any, ...] = ("servers", i)
        if (body := pr.mapping(body, path, "a server {name, address, cores, mtu}")) is None:
            continue
        pr.check_keys(body, SERVER_KEYS, path, "server")
        missing = [k for k in REQUIRED if k not in body]
        if missing:
            pr.add(path, f"a server needs {', '.join(missing)} (known keys: {', '.join(SERVER_KEYS)})")
            continue
        ok = len(pr.items)
        name = body["name"]
        if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 32:
            pr.add(path + ("name",), "a server name must start with a letter and hold at most 32 letters, digits, "
                                     f"'-', '_' or '.', got {excerpt(name)}")
        elif name in seen:
            pr.add(path + ("name",), f"server {excerpt(name)} is listed twice (first as servers[{seen[name]}])")
        address = body["address"]
        if not isinstance(address, str) or not HOST_RE.match(address):
            pr.add(path + ("address",), "expected a host name or address for ssh (letters, digits, '.', ':', '-', "
                                        f"'_'; not starting with '-'), got {excerpt(address)}")
        user = body.get("user", "root")
        if not isinstance(user, str) or not USER_RE.match(user):
            pr.add(path + ("user",), f"expected a user name like root, got {excerpt(user)}")
        port = _int(pr, body.get("port", DEFAULT_SSH_PORT), path + ("port",), 1, 65535, "an ssh port")
        cores = _int(pr, body["cores"], path + ("cores",), 1, MAX_CORES, "a number of CPU cores")
        mtu = _int(pr, body["mtu"], path + ("mtu",), *MTU_RANGE, "the underlay MTU in bytes (1500, or 9000 "
                                                                 "with jumbo frames)")
        memory = None
        if "memory" in body:
            try:
                memory = units.parse_size(body["memory"])
            except ValueError as e:
                pr.add(path + ("memory",), f"{e} (the server's memory, e.g. 64GiB)")
        tunnel_address = body.get("tunnel_address")
        if tunnel_address is not None:
            try:
                if ipaddress.ip_address(str(tunnel_address)).version != 4:
                    raise ValueError("IPv4 only")
            except ValueError:
                pr.add(path + ("tunnel_address",), "expected the IPv4 address tunnels end on, e.g. 192.0.2.11, "
                                                   f"got {excerpt(tunnel_address)}")
                tunnel_address = None
        identity = _file(pr, body.get("identity"), path + ("identity",), base_dir)
        python = body.get("python", "python3")
        if not isinstance(python, str) or not PROGRAM_RE.match(python) or python.startswith("-"):
            pr.add(path + ("python",), f"expected the path of a Python interpreter, got {excerpt(python)}")
        if len(pr.items) > ok:
            continue
        assert port is not None and cores is not None and mtu is not None
        login = (str(address), port)
        if login in logins:
            pr.add(path + ("address",), f"servers[{logins[login]}] already is {address} port {port}: one machine "
                                        "cannot be two servers")
            continue
        seen[name] = i
        logins[login] = i
        marks[f"server:{name}"] = pr.src.where(path)
        for k in ("mtu", "cores", "address"):
            marks[f"server:{name}.{k}"] = pr.src.where(path + (k,))
        out.append(Server(name=name, address=address, user=user, port=port, cores=cores, mtu=mtu,
                          memory_bytes=memory, tunnel_address=tunnel_address, identity=identity, python=python))
    return out


def _placement(pr: Problems, data: Any, servers: list[str], marks: dict[str, tuple[int, int]]
               ) -> tuple[tuple[str, str], ...]:
    if data is None:
        return ()
    if (data := pr.mapping(data, ("placement",), "node name -> server name")) is None:
        return ()
    out = []
    for node, server in data.items():
        path = ("placement", node)
        if not isinstance(node, str) or not NAME_RE.match(node):
            pr.add(path, f"expected a node name, got {excerpt(node)}", key=True)
            continue
        if not isinstance(server, str) or (servers and server not in servers):
            pr.add(path, unknown("server", str(server), servers))
            continue
        marks[f"placement:{node}"] = pr.src.where(path, key=True)
        out.append((node, server))
    return tuple(out)


def _int(pr: Problems, v: Any, path: tuple[Any, ...], lo: int, hi: int, what: str) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        pr.add(path, f"expected {what}, a whole number from {lo} to {hi}, got {excerpt(v)}")
        return None
    return v


def _file(pr: Problems, v: Any, path: tuple[Any, ...], base_dir: Path) -> str | None:
    """A file path (relative to the inventory's folder), as ssh will be given it; its content is never read here."""
    if v is None:
        return None
    if not isinstance(v, str) or not v or v.startswith("-") or "\0" in v or "\n" in v:
        pr.add(path, f"expected a file path, got {excerpt(v)}")
        return None
    p = Path(v).expanduser()
    return str(p if p.is_absolute() else (base_dir / p))

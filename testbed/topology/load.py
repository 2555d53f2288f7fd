"""Topology YAML -> frozen Topology, reporting every problem of the file at once."""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from .. import units
from ..errors import InputError, Problem, excerpt, unknown
from ..linkparams import param_problems
from ..netenv import parse_env
from ..yamlsource import Source, load_yaml
from .geo import distance_km
from .model import (
    BACKENDS,
    NODE_KINDS,
    ROUTING,
    Addressing,
    Endpoint,
    Link,
    Node,
    OspfSettings,
    Power,
    Site,
    Topology,
)
from .params import BLOCK_KEYS, PROFILE_KEYS, Problems, Spec, builtin_profiles_raw, parse_block, resolve_link
from .sector import SECTOR_KEYS, parse_sectors
from .validate import check_graph

TOP_KEYS = ("name", "description", "defaults", "profiles", "nodes", "links", "ospf", "addressing", "seed")
DEFAULTS_KEYS = ("routing", "link", "backend", "env")
NODE_KEYS = ("kind", "site", "power", "description", "subnet", "gateway", "interface", "env", "files", "dirs", "server",
             *SECTOR_KEYS)
SYSTEM_DIRS = ("/proc", "/sys", "/dev", "/run/testbed", "/run/netns")   # never mounted over
# Programs and libraries root runs in a node (FRR, the loader, testbed's interpreter) must be the host's:
# an overlay there is root code from a description file (issue 24). "\Z", not "$", lets no newline through.
CODE_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32", "libexec")
LOADER_FILES = ("/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ld.so.cache")
FRR_DIRS = ("/usr/lib/frr", "/etc/frr", "/var/run/frr", "/run/frr")
IFNAME_RE = re.compile(r"\A[a-zA-Z][a-zA-Z0-9_.-]{0,14}\Z")
HOST_PREFIX = "host"   # endpoint "host:enp3s0": the machine's own interface, an implicit external node
UNNUMBERED = "unnumbered"   # addresses: unnumbered, a point-to-point link between routers without a subnet
LINK_KEYS = BLOCK_KEYS + ("endpoints", "profile", "cost", "addresses", "name", "backend", "description")
DEFAULT_LINK_KEYS = BLOCK_KEYS + ("profile", "cost", "backend")
NAME_RE = re.compile(r"\A[A-Za-z][A-Za-z0-9_.-]*\Z")
# a topology's, scenario's or experiment's name: default folder names (results/<name>-<time>) are made of it
SLUG_RE = re.compile(r"\A[A-Za-z0-9_-][A-Za-z0-9_.-]{0,119}\Z")


def name_problem(name: str, what: str) -> str | None:
    """Why `name` cannot name a topology, scenario or experiment (it becomes a folder name), or None."""
    if SLUG_RE.match(name):
        return None
    return (f"a {what} name must be 1-120 letters, digits, '-', '_' or '.', not starting with '.' (it names "
            f"the results folder), got {excerpt(name)}")


def safe_stem(file: str | Path) -> str:
    """A file's stem as a safe name (when the file gives none, or a bad one)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "-", Path(file).stem).lstrip(".")[:120]
    return stem or "unnamed"


def load_topology(file: str | Path, text: str | None = None) -> Topology:
    """Load and validate a topology file; raises InputError listing every problem found."""
    src = load_yaml(file, text)
    return build_topology(src, Path(file).parent)


def not_a(src: Source, known: tuple[str, ...], what: str) -> InputError | None:
    """One short error when the file is no `what` at all (not a mapping, or none of its top-level keys known).

    A file given by mistake, or on purpose (`topology: /etc/shadow`), must never come back line by line as
    "unknown key" errors: the message names the file, never its content.
    """
    data = src.data
    if isinstance(data, dict) and any(isinstance(k, str) and k in known for k in data):
        return None
    got = ("it is empty" if data is None or data == {} else
           "none of its top-level keys is one" if isinstance(data, dict) else
           "its top level is a list" if isinstance(data, list) else "it holds a single value")
    return InputError([Problem(src.file, 1, 1, "", f"not {'an' if what[0] in 'aeiou' else 'a'} {what}: {got} (expected a mapping of "
                                                   f"{', '.join(known)})")])


def build_topology(src: Source, base_dir: Path) -> Topology:
    if (wrong := not_a(src, TOP_KEYS, "topology")) is not None:
        raise wrong
    pr = Problems(src)
    data = pr.mapping(src.data, (), "a topology")
    if data is None:
        raise InputError(pr.items)
    pr.check_keys(data, TOP_KEYS, (), "topology")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        pr.add(("name",) if "name" in data else (), 'a topology needs a "name" (a string)')
        name = safe_stem(src.file)
    elif not name.isprintable() or len(name) > 120:
        # no folder is named after a topology, but /etc/hosts and the registry quote it: one printable line
        pr.add(("name",), f"a topology name must be one line of at most 120 printable characters, got {excerpt(name)}")
        name = safe_stem(src.file)

    profiles = _profiles(pr, data.get("profiles", {}), base_dir)
    defaults = pr.mapping(data.get("defaults", {}), ("defaults",), "defaults") or {}
    pr.check_keys(defaults, DEFAULTS_KEYS, ("defaults",), "defaults")
    routing = defaults.get("routing", "static")
    if routing not in ROUTING:
        pr.add(("defaults", "routing"), unknown("routing", str(routing), ROUTING))
        routing = "static"
    default_backend = defaults.get("backend", "auto")
    if default_backend not in BACKENDS:
        pr.add(("defaults", "backend"), _unknown_backend(default_backend))
        default_backend = "auto"
    dlink = defaults.get("link", {})
    dspec = parse_block(pr, dlink, ("defaults", "link"), DEFAULT_LINK_KEYS, "default link", base_dir)
    dlink = dlink if isinstance(dlink, dict) else {}

    env = parse_env(defaults.get("env"), pr.add, ("defaults", "env"))
    nodes = _nodes(pr, data.get("nodes"), base_dir)
    links = _links(pr, data.get("links"), nodes, profiles, dspec, dlink, default_backend, base_dir,
                   data.get("profiles"))
    sectors = parse_sectors(pr, data["nodes"] if isinstance(data.get("nodes"), dict) else {}, nodes, links,
                            data.get("links"))
    ospf = _ospf(pr, data.get("ospf", {}))
    addressing = _addressing(pr, data.get("addressing", {}))
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        pr.add(("seed",), f"expected an integer seed, got {excerpt(seed)}")
        seed = 0
    written = data["nodes"] if isinstance(data.get("nodes"), dict) else {}
    marks = {f"node:{n}": src.where(("nodes", n), key=True) for n in nodes if n in written}
    marks.update({f"link:{lk.index}": src.where(("links", lk.index)) for lk in links})
    topo = Topology(name=name, nodes=tuple(nodes.values()), links=tuple(links), routing=routing,
                    ospf=ospf, addressing=addressing, description=str(data.get("description", "")),
                    file=src.file, seed=seed, env=tuple(env.items()), sectors=tuple(sectors), marks=marks)
    if not pr.items:
        for path, msg in check_graph(topo):
            pr.add(path, msg)
    if pr.items:
        raise InputError(sorted(pr.items, key=lambda p: (p.line, p.col)))
    return topo


def _profiles(pr: Problems, user: Any, base_dir: Path) -> dict[str, Spec]:
    """Built-in profiles plus the file's own, each resolved through its `extends` chain."""
    raw: dict[str, tuple[Any, tuple[Any, ...] | None]] = {k: (v, None) for k, v in builtin_profiles_raw().items()}
    if (user := pr.mapping(user, ("profiles",), "profiles by name")) is not None:
        for k, v in user.items():
            raw[str(k)] = (v, ("profiles", k))
    done: dict[str, Spec] = {}

    def resolve(name: str, stack: tuple[str, ...]) -> Spec:
        if name in done:
            return done[name]
        body, path = raw[name]
        path = path or ("profiles", name)
        spec = parse_block(pr, body, path, PROFILE_KEYS, f'profile "{name}"', base_dir)
        parent = body.get("extends") if isinstance(body, dict) else None
        if parent is not None:
            if not isinstance(parent, str):
                pr.add(path + ("extends",), f"expected a profile's name, got {excerpt(parent)}")
            elif parent in stack:
                pr.add(path + ("extends",), f"profiles extend each other in a loop: {' -> '.join(stack + (parent,))}")
            elif parent not in raw:
                pr.add(path + ("extends",), unknown("profile", str(parent), raw))
            else:
                spec = spec.merged_over(resolve(parent, stack + (parent,)))
        done[name] = spec
        return spec

    for name in raw:
        resolve(name, (name,))
    return done


def _nodes(pr: Problems, data: Any, base_dir: Path) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    if data is None:
        pr.add((), 'a topology needs "nodes" (a mapping of node name to its settings)')
        return nodes
    if (data := pr.mapping(data, ("nodes",), "node name -> settings")) is None:
        return nodes
    for name, body in data.items():
        path = ("nodes", name)
        if not isinstance(name, str) or not NAME_RE.match(name):
            pr.add(path, f'node name "{name}" must start with a letter and hold only letters, '
                   'digits, "-", "_" and "."', key=True)
            continue
        body = {} if body is None else body
        if (body := pr.mapping(body, path, f'settings of node "{name}"')) is None:
            continue
        pr.check_keys(body, NODE_KEYS, path, "node")
        kind = body.get("kind", "host")
        if kind not in NODE_KINDS:
            pr.add(path + ("kind",), unknown("node kind", str(kind), NODE_KINDS))
            continue
        for k in SECTOR_KEYS:
            if k in body and kind != "sector":
                pr.add(path + (k,), f'"{k}" belongs to a shared radio channel (kind: sector), not a {kind}', key=True)
        nodes[name] = Node(name=name, kind=kind, site=_site(pr, body.get("site"), path + ("site",)),
                           power=_power(pr, body.get("power"), path + ("power",)),
                           description=str(body.get("description", "")),
                           subnet=_subnet(pr, body, path, kind), gateway=body.get("gateway"),
                           interface=_interface(pr, body, path, kind),
                           env=tuple(parse_env(body.get("env"), pr.add, path + ("env",)).items()),
                           files=_files(pr, body.get("files"), path + ("files",), base_dir, kind),
                           dirs=_dirs(pr, body.get("dirs"), path + ("dirs",), kind),
                           server=_server(pr, body.get("server"), path + ("server",)))

        if body.get("gateway") is not None and kind != "host":
            pr.add(path + ("gateway",), "only a host has a default gateway")
        elif body.get("gateway") is not None and not isinstance(body["gateway"], str):
            pr.add(path + ("gateway",), f"expected a router's name, got {excerpt(body['gateway'])}")
            nodes[name] = replace(nodes[name], gateway=None)
    return nodes


def _server(pr: Problems, v: Any, path: tuple[Any, ...]) -> str | None:
    """The cluster server a node is pinned to (checked against the inventory when there is one)."""
    if v is None:
        return None
    if not isinstance(v, str) or not NAME_RE.match(v):
        pr.add(path, f"expected the name of a server of the cluster inventory, got {excerpt(v)}")
        return None
    return v


def _site(pr: Problems, data: Any, path: tuple[Any, ...]) -> Site | None:
    if data is None or (data := pr.mapping(data, path, "a site {lat, lon}")) is None:
        return None
    pr.check_keys(data, ("lat", "lon"), path, "site")
    try:
        if any(isinstance(data.get(k), bool) or not isinstance(data.get(k), (int, float)) for k in ("lat", "lon")):
            raise TypeError("lat and lon are numbers")
        lat, lon = float(data["lat"]), float(data["lon"])
    except (KeyError, TypeError, ValueError, OverflowError):
        pr.add(path, "a site needs numeric lat and lon in degrees, e.g. {lat: 24.74, lon: 69.80}")
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        pr.add(path, f"lat must lie in [-90, 90] and lon in [-180, 180], got ({lat}, {lon})")
        return None
    return Site(lat, lon)


def _power(pr: Problems, data: Any, path: tuple[Any, ...]) -> Power | None:
    if data is None or (data := pr.mapping(data, path, "power settings")) is None:
        return None
    pr.check_keys(data, ("battery", "solar", "grid"), path, "power")
    battery = None
    if "battery" in data:
        try:
            battery = units.parse_duration(data["battery"])
        except ValueError as e:
            pr.add(path + ("battery",), str(e))
    for k in ("solar", "grid"):
        if k in data and not isinstance(data[k], bool):
            pr.add(path + (k,), f"expected true or false, got {excerpt(data[k])}")
    return Power(battery_s=battery, solar=bool(data.get("solar", False)), grid=bool(data.get("grid", True)))


def _subnet(pr: Problems, body: dict[str, Any], path: tuple[Any, ...], kind: str) -> str | None:
    if "subnet" not in body:
        return None
    if kind != "switch":
        pr.add(path + ("subnet",), "only a switch (a LAN) has a subnet; give routers and hosts "
               "addresses on their links")
        return None
    try:
        net = ipaddress.ip_network(str(body["subnet"]), strict=True)
        if net.version != 4:
            raise ValueError("IPv6 is not supported yet")
        if net.prefixlen > 29:
            raise ValueError("a LAN needs room for its members: /29 (6 addresses) or larger")
        if bad := special_network(net):
            raise ValueError(bad)
        return str(net)
    except ValueError as e:
        pr.add(path + ("subnet",), f"expected an IPv4 subnet like 10.50.0.0/24: {e}")
        return None


def _node_path(pr: Problems, target: Any, path: tuple[Any, ...]) -> str | None:
    """An absolute path inside a node, normalised; system folders are refused."""
    if not isinstance(target, str) or not target.startswith("/"):
        pr.add(path, f"expected an absolute path inside the node like /etc/myapp.conf, got {target!r}")
        return None
    norm = str(PurePosixPath(target))
    if norm == "/" or any(_under(norm, d) for d in SYSTEM_DIRS) or ".." in norm.split("/") or "\0" in norm:
        pr.add(path, f'"{target}" cannot be made private (not /, "..", or under {", ".join(SYSTEM_DIRS)})')
        return None
    if (why := shadows_code(norm)) is not None:
        pr.add(path, f'"{target}" would shadow programs testbed runs as root: {why} (files: and dirs: may not '
                     "cover program, library or loader folders, nor FRR's or testbed's own)")
        return None
    return norm


def _under(p: str, d: str) -> bool:
    return p == d or p.startswith(d.rstrip("/") + "/")


def _protected() -> tuple[str, ...]:
    """Folders and files no node overlay may cover, sit under or sit above (ancestors would hide them too)."""
    here = Path(__file__).resolve().parents[1]     # the testbed package, wherever it is installed
    own = {str(here), os.path.realpath(sys.prefix), os.path.realpath(sys.exec_prefix)}
    code = [f"{root}/{d}" for root in ("", "/usr", "/usr/local") for d in CODE_DIRS]
    return (*code, *LOADER_FILES, *FRR_DIRS, *sorted(own))


def shadows_code(norm: str) -> str | None:
    """Why a node path would hide code testbed or its daemons run as root, or None when it is harmless.

    The path is checked as written and as the host resolves it: a mount follows symlinks, so
    /etc/alternatives/x or /lib (-> /usr/lib on merged-/usr systems) land where they point.
    """
    for p in dict.fromkeys((norm, os.path.realpath(norm))):
        name = PurePosixPath(p).name
        if name.startswith("ld.so") and _under(p, "/etc/" + name):
            return f"{p} configures the dynamic loader of every program"
        if p == "/opt" or _under(p, "/opt") and any(part in CODE_DIRS for part in PurePosixPath(p).parts):
            return f"{p} holds programs or libraries" if p != "/opt" else "it holds /opt's programs"
        for q in _protected():
            if _under(p, q):
                return f"it is {q}" if p == q else f"{p} is inside {q}"
            if _under(q, p):
                return f"it holds {q}"
    return None


def _files(pr: Problems, data: Any, path: tuple[Any, ...], base_dir: Path, kind: str) -> tuple[tuple[str, str], ...]:
    """files: {/path/in/node: ./source}: each node gets its own copy, mounted at that path."""
    if data is None or (data := pr.mapping(data, path, "files {/path/in/node: ./local-file}")) is None:
        return ()
    if kind in ("switch", "sector", "external"):
        pr.add(path, f"a {kind} runs no programs: only hosts and routers take files")
        return ()
    out = []
    for target, source in data.items():
        norm = _node_path(pr, target, path + (target,))
        if norm is None:
            continue
        if not isinstance(source, str):
            pr.add(path + (target,), f"expected a local file (relative to the topology), got {source!r}")
            continue
        src = (base_dir / source) if not Path(source).is_absolute() else Path(source)
        try:
            found = src.is_file()
        except OSError as e:    # a name too long for the filesystem, a loop of links
            pr.add(path + (target,), f"{excerpt(source)} cannot be looked up: {e.strerror}")
            continue
        if not found:
            pr.add(path + (target,), f"{excerpt(source)} is not a file (looked for {excerpt(str(src), 200)})")
            continue
        out.append((norm, str(src.resolve())))
    return tuple(out)


def _dirs(pr: Problems, data: Any, path: tuple[Any, ...], kind: str) -> tuple[str, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        pr.add(path, "expected a list of folders inside the node, e.g. [/var/lib/myapp]")
        return ()
    if kind in ("switch", "sector", "external"):
        pr.add(path, f"a {kind} runs no programs: only hosts and routers take dirs")
        return ()
    return tuple(n for i, d in enumerate(data) if (n := _node_path(pr, d, path + (i,))) is not None)


def _interface(pr: Problems, body: dict[str, Any], path: tuple[Any, ...], kind: str) -> str | None:
    """An external node's host interface (required there, refused elsewhere)."""
    intf = body.get("interface")
    if kind != "external":
        if intf is not None:
            pr.add(path + ("interface",), 'only an external node takes a host interface (kind: external)')
        return None
    if intf is None:
        pr.add(path, 'an external node needs "interface": the host interface its device is plugged '
               'into, e.g. {kind: external, interface: enp3s0}')
        return None
    if not isinstance(intf, str) or not IFNAME_RE.match(intf):
        pr.add(path + ("interface",), f'expected a host interface name (1-15 letters, digits, ".", "-", "_"), '
               f"got {intf!r}")
        return None
    return intf


def _endpoint(pr: Problems, v: Any, path: tuple[Any, ...], nodes: dict[str, Node]) -> Endpoint | None:
    if not isinstance(v, str):
        pr.add(path, f"expected a node name (or node:interface), got {excerpt(v)}")
        return None
    node, _, intf = v.partition(":")
    if node == HOST_PREFIX and HOST_PREFIX not in nodes and intf:
        # "host:enp3s0" is shorthand for an external node named after the interface
        if not IFNAME_RE.match(intf):
            pr.add(path, f'host interface name "{intf}" must be 1-15 letters, digits, ".", "-" or "_"')
            return None
        known = nodes.get(intf)
        if known is not None and not (known.kind == "external" and known.interface == intf):
            pr.add(path, f'"{v}" names an external node "{intf}", but a node of that name already exists; '
                   f"write it as {{kind: external, interface: {intf}}} under another name")
            return None
        nodes.setdefault(intf, Node(name=intf, kind="external", interface=intf,
                                    description=f"host interface {intf}"))
        return Endpoint(intf, None)
    if node not in nodes:
        pr.add(path, unknown("node", node, nodes))
        return None
    if intf and not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_-]{0,14}", intf):
        pr.add(path, f'interface name "{intf}" must be 1-15 letters, digits, "-" or "_"')
        return None
    if intf and nodes[node].kind == "external":
        pr.add(path, f'"{node}" is external: its interface is the host interface {nodes[node].interface}; '
               f'write just "{node}"')
        return None
    return Endpoint(node, intf or None)


def _builtin_ancestor(name: str | None, user: Any) -> str | None:
    """The built-in profile a (possibly user-defined) profile extends, following `extends`."""
    user = user if isinstance(user, dict) else {}
    seen = set()
    while isinstance(name, str) and name in user and name not in seen:
        seen.add(name)
        body = user[name]
        name = body.get("extends") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


def _links(pr: Problems, data: Any, nodes: dict[str, Node], profiles: dict[str, Spec], dspec: Spec,
           dlink: dict[str, Any], default_backend: str, base_dir: Path, data_profiles: Any = None) -> list[Link]:
    links: list[Link] = []
    if data is None:
        return links
    if not isinstance(data, list):
        pr.add(("links",), "expected a list of links, each with endpoints: [a, b]")
        return links
    for i, body in enumerate(data):
        path = ("links", i)
        if (body := pr.mapping(body, path, "a link with endpoints: [a, b]")) is None:
            continue
        eps = body.get("endpoints")
        if not (isinstance(eps, list) and len(eps) == 2):
            pr.add(path + ("endpoints",) if "endpoints" in body else path,
                   "a link needs endpoints: [a, b] (exactly two node names)")
            continue
        a = _endpoint(pr, eps[0], path + ("endpoints", 0), nodes)
        b = _endpoint(pr, eps[1], path + ("endpoints", 1), nodes)
        pname = body.get("profile", dlink.get("profile"))
        spec = dspec
        if pname is not None:
            if not isinstance(pname, str) or pname not in profiles:
                pr.add(path + ("profile",) if "profile" in body else ("defaults", "link", "profile"),
                       unknown("profile", str(pname), profiles))
            else:
                spec = profiles[pname].merged_over(dspec)
        spec = parse_block(pr, body, path, LINK_KEYS, "link", base_dir).merged_over(spec)
        cost = body.get("cost", dlink.get("cost", 10))
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 < cost < 1e9:
            pr.add(path + ("cost",), f"expected a positive number (routing cost), got {excerpt(cost)}")
            cost = 10
        backend = body.get("backend", dlink.get("backend", default_backend))
        if backend not in BACKENDS:
            pr.add(path + ("backend",), _unknown_backend(backend))
            backend = "auto"
        unnumbered = body.get("addresses") == UNNUMBERED
        addrs = (None, None) if unnumbered else _addresses(pr, body.get("addresses"), path + ("addresses",))
        if a is None or b is None:
            continue
        name = body.get("name", f"{a.node}--{b.node}")
        if not isinstance(name, str) or not NAME_RE.match(name.replace("--", "-")):
            pr.add(path + ("name",), f"a link name must be letters, digits, '-', '_' or '.', got {excerpt(name)}")
            continue
        dist = None
        sa, sb = nodes[a.node].site, nodes[b.node].site
        if sa and sb:
            dist = distance_km(sa, sb)
        params = resolve_link(spec, dist)
        for d, dp in (("ab", params.ab), ("ba", params.ba)):   # what the engine would refuse, refused now
            for msg in param_problems(dp):
                pr.add(path, f"{'up (a -> b)' if d == 'ab' else 'down (b -> a)'}: {msg}")
        links.append(Link(index=i, name=name, a=a, b=b, params=params, profile=pname,
                          profile_family=_builtin_ancestor(pname, data_profiles), cost=float(cost),
                          addresses=addrs, up=spec.meta.get("link_up", True), backend=backend,
                          distance_km=dist, unnumbered=unnumbered))
    return links


def _addresses(pr: Problems, v: Any, path: tuple[Any, ...]) -> tuple[str | None, str | None]:
    if v is None:
        return (None, None)
    if not (isinstance(v, list) and len(v) == 2):
        pr.add(path, "expected two addresses [a, b] like [10.9.0.1/30, 10.9.0.2/30] (null for a switch side), "
                     f"or {UNNUMBERED} (two routers, each using its loopback address)")
        return (None, None)
    out: list[str | None] = []
    for j, item in enumerate(v):
        if item is None:
            out.append(None)
            continue
        try:
            iface = ipaddress.ip_interface(str(item))
            if "/" not in str(item) or iface.version != 4:
                raise ValueError("give an IPv4 address with its prefix length")
            if bad := special_address(iface):
                raise ValueError(bad)
            out.append(str(iface))
        except ValueError as e:
            pr.add(path + (j,), f'expected an address like 10.9.0.1/30, got {excerpt(item)}: {e}')
            out.append(None)
    return (out[0], out[1])


def special_network(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str:
    """Why a subnet cannot be used for emulated links ('' when it can)."""
    if net.is_loopback or net.is_multicast or net.is_unspecified or net.is_link_local or net.is_reserved:
        return f"{net} is a loopback, multicast, link-local or reserved range"
    return ""


def special_address(iface: ipaddress.IPv4Interface | ipaddress.IPv6Interface) -> str:
    """Why an interface address cannot be used ('' when it can): special ranges, network or broadcast."""
    net = iface.network
    if bad := special_network(ipaddress.ip_network(f"{iface.ip}/32")):
        return bad.replace(f"{iface.ip}/32", str(iface.ip))
    if net.prefixlen < 31 and iface.ip in (net.network_address, net.broadcast_address):
        return f"{iface.ip} is the {'network' if iface.ip == net.network_address else 'broadcast'} address of {net}"
    return ""


def _ospf(pr: Problems, data: Any) -> OspfSettings:
    if (data := pr.mapping(data, ("ospf",), "OSPF settings {hello, dead}")) is None:
        return OspfSettings()
    pr.check_keys(data, ("hello", "dead"), ("ospf",), "ospf")
    vals = {}
    for k in ("hello", "dead"):
        if k in data:
            try:
                s = units.parse_duration(data[k])
                if s < 1 or s != int(s):
                    raise ValueError(f"OSPF timers are whole seconds of at least 1s, got {excerpt(data[k])}")
                vals[f"{k}_s"] = s
            except ValueError as e:
                pr.add(("ospf", k), str(e))
    o = OspfSettings(**vals)
    if o.dead_s <= o.hello_s:
        pr.add(("ospf",), f"the dead interval ({o.dead_s:g}s) must be longer than hello ({o.hello_s:g}s)")
    return o


def _addressing(pr: Problems, data: Any) -> Addressing:
    if (data := pr.mapping(data, ("addressing",), "address pools {p2p, lan, loopback}")) is None:
        return Addressing()
    pr.check_keys(data, ("p2p", "lan", "loopback"), ("addressing",), "addressing")
    vals = {}
    for k in ("p2p", "lan", "loopback"):
        if k in data:
            try:
                net = ipaddress.ip_network(str(data[k]), strict=True)
                most = {"p2p": 30, "lan": 24, "loopback": 30}[k]   # the pool hands out /30s, /24s, /32s
                if net.version != 4 or net.prefixlen > most:
                    raise ValueError(f"give an IPv4 pool of /{most} or larger")
                if bad := special_network(net):
                    raise ValueError(bad)
                vals[k] = str(net)
            except ValueError as e:
                pr.add(("addressing", k), f"expected an address pool like 10.255.0.0/16: {e}")
    return Addressing(**vals)


def _unknown_backend(v: Any) -> str:
    msg = unknown("backend", str(v), BACKENDS)
    if v == "netem":     # offered by early versions, never wired: say why it is gone (docs/architecture.md)
        msg += ("; the netem backend was dropped: the link engine does what netem did, exactly, on kernels "
                "with or without sch_netem; use backend: engine or auto")
    return msg


def load_topology_map(file: str | Path, text: str) -> Topology:
    """A topology for drawing only (a results bundle's copy): its `files:` and `trace:` entries are left out
    before loading, since their paths are relative to a folder the copy no longer sits in and a map needs
    neither; no path named inside the text is followed."""
    src = load_yaml(file, text)
    data = src.data
    if isinstance(data, dict):
        nodes = data.get("nodes")
        for body in nodes.values() if isinstance(nodes, dict) else ():
            if isinstance(body, dict):
                body.pop("files", None)
        for key in ("defaults", "profiles", "links"):
            _drop_traces(data.get(key))
    return build_topology(src, Path(file).parent)


def _drop_traces(v: Any) -> None:
    if isinstance(v, dict):
        v.pop("trace", None)
        for x in v.values():
            _drop_traces(x)
    elif isinstance(v, list):
        for x in v:
            _drop_traces(x)

"""Planner: addresses, interface names, LANs and static routes, without root."""

import ipaddress

import pytest

from testbed.errors import InputError
from testbed.topology.load import load_topology
from testbed.topology.plan import make_plan


def plan_of(text):
    return make_plan(load_topology("t.yaml", text))


RING = """
name: ring
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  r4: {kind: router}
  h1: {kind: host}
  h4: {kind: host}
links:
  - {endpoints: [h1, r1]}
  - {endpoints: [r1, r2], cost: 10}
  - {endpoints: [r2, r4], cost: 10}
  - {endpoints: [r1, r3], cost: 100}
  - {endpoints: [r3, r4], cost: 100}
  - {endpoints: [r4, h4]}
"""


def test_routes_follow_the_cheapest_path():
    plan = plan_of(RING)
    r1 = plan.nodes["r1"]
    h4_subnet = plan.link("r4--h4").subnet
    route = next(r for r in r1.routes if r.dest == h4_subnet)
    r2_addr = plan.link("r1--r2").b.address.split("/")[0]
    assert route.via == r2_addr and route.dev == plan.link("r1--r2").a.name
    assert route.cost == 20


def test_host_with_one_gateway_gets_a_default_route():
    plan = plan_of(RING)
    (route,) = plan.nodes["h1"].routes
    assert route.dest == "default"
    assert route.via == plan.link("h1--r1").b.address.split("/")[0]


def test_hosts_are_never_transit():
    plan = plan_of("""
name: t
nodes: {a: {kind: router}, b: {kind: router}, h: {kind: host}}
links:
  - {endpoints: [a, h], cost: 1}
  - {endpoints: [h, b], cost: 1}
  - {endpoints: [a, b], cost: 50}
""")
    route = next(r for r in plan.nodes["a"].routes if r.dest == plan.nodes["b"].loopback)
    assert route.via == plan.link("a--b").b.address.split("/")[0]


def test_p2p_subnets_are_distinct_30s_and_lan_gets_24():
    plan = plan_of("""
name: t
nodes: {r1: {kind: router}, r2: {kind: router}, sw: {kind: switch}, h1: {kind: host}, h2: {kind: host}}
links:
  - {endpoints: [r1, r2]}
  - {endpoints: [r2, sw]}
  - {endpoints: [sw, h1]}
  - {endpoints: [sw, h2]}
""")
    (lan,) = plan.lans
    assert ipaddress.ip_network(lan.subnet).prefixlen == 24
    addrs = [i.address for n in plan.nodes.values() for i in n.interfaces if i.address]
    assert len(addrs) == len(set(addrs)) == 5
    # the router gets the LAN's first address, hosts use it as their gateway
    r2_lan = next(i for i in plan.nodes["r2"].interfaces if i.lan)
    assert r2_lan.address.startswith(str(next(ipaddress.ip_network(lan.subnet).hosts())))
    assert plan.nodes["h1"].routes[0].via == r2_lan.address.split("/")[0]
    assert plan.nodes["sw"].interfaces[0].address is None


def test_long_node_names_get_short_interface_names():
    plan = plan_of("""
name: t
nodes:
  a-very-long-node-name-indeed: {kind: router}
  another-extremely-long-router-name: {kind: router}
links:
  - {endpoints: [a-very-long-node-name-indeed, another-extremely-long-router-name]}
  - {endpoints: [another-extremely-long-router-name, a-very-long-node-name-indeed], name: second}
""")
    for n in plan.nodes.values():
        assert [i.name for i in n.interfaces] == ["eth0", "eth1"]


def test_user_interface_names_are_kept_and_skipped():
    plan = plan_of("""
name: t
nodes: {a: {kind: router}, b: {kind: router}, c: {kind: router}}
links:
  - {endpoints: [a, b]}
  - {endpoints: ["a:eth0", c]}
""")
    assert {i.name for i in plan.nodes["a"].interfaces} == {"eth0", "eth1"}
    assert plan.link("a--c").a.name == "eth0" and plan.link("a--b").a.name == "eth1"


def test_explicit_addresses_honoured_and_pool_skips_them():
    plan = plan_of("""
name: t
nodes: {a: {kind: router}, b: {kind: router}, c: {kind: router}}
addressing: {p2p: 10.9.0.0/29}
links:
  - {endpoints: [a, b], addresses: [10.9.0.1/30, 10.9.0.2/30]}
  - {endpoints: [b, c]}
""")
    assert plan.link("a--b").a.address == "10.9.0.1/30"
    assert plan.link("b--c").subnet == "10.9.0.4/30"


def test_exhausted_pool_is_an_input_error():
    with pytest.raises(InputError, match="exhausted"):
        plan_of("""
name: t
nodes: {a: {kind: router}, b: {kind: router}, c: {kind: router}}
addressing: {p2p: 10.9.0.0/30}
links:
  - {endpoints: [a, b]}
  - {endpoints: [b, c]}
""")


def test_delay_from_sites_distance():
    topo = load_topology("t.yaml", """
name: t
nodes:
  a: {kind: router, site: {lat: 24.0, lon: 69.0}}
  b: {kind: router, site: {lat: 25.0, lon: 69.0}}
links:
  - {endpoints: [a, b], profile: fiber}
  - {endpoints: [a, b], profile: microwave-56mhz, name: mw}
  - {endpoints: [a, b], profile: fiber, delay: 3ms, name: given}
""")
    fiber, mw, given = topo.links
    assert fiber.distance_km == pytest.approx(111.2, abs=0.5)
    assert fiber.params.ab.delay_s == pytest.approx(111.2 * 5e-6 + 50e-6, rel=0.01)
    assert mw.params.ba.delay_s == pytest.approx(111.2 * 3.336e-6 + 200e-6, rel=0.01)
    assert given.params.ab.delay_s == 0.003


def test_directions_and_layers():
    topo = load_topology("t.yaml", """
name: t
defaults: {link: {queue: 77}}
profiles:
  my-vsat: {extends: geo-vsat, down: {rate: 10Mbit}, up: {rate: 2Mbit}}
nodes: {site: {kind: router}, hub: {kind: router}}
links:
  - {endpoints: [site, hub], profile: my-vsat}
  - {endpoints: [site, hub], profile: my-vsat, rate: 1Mbit, name: flat}
  - {endpoints: [site, hub], profile: fiber, name: dflt}
""")
    vsat, flat, dflt = topo.links
    assert (vsat.params.ab.rate_bps, vsat.params.ba.rate_bps) == (2e6, 10e6)
    assert vsat.params.ab.delay_s == 0.3 and vsat.params.ab.queue_packets == 200   # profile beats defaults
    assert (flat.params.ab.rate_bps, flat.params.ba.rate_bps) == (1e6, 1e6)       # link beats profile
    assert dflt.params.ab.queue_packets == 77                                      # defaults apply
    assert vsat.profile_family == "geo-vsat"


def test_gilbert_elliott_and_blackhole_direction():
    topo = load_topology("t.yaml", """
name: t
nodes: {a: {}, b: {}}
links:
  - endpoints: [a, b]
    loss: {p: 1%, r: 30%}
    down: {up: false}
""")
    (link,) = topo.links
    ge = link.params.ab.loss_ge
    assert (ge.p, ge.r, ge.loss_bad, ge.loss_good) == (0.01, 0.3, 1.0, 0.0)
    assert ge.mean_loss() == pytest.approx(0.01 / 0.31)
    assert link.params.ab.up and not link.params.ba.up


def test_backend_auto():
    plan = plan_of("""
name: t
nodes: {a: {}, b: {}, c: {}}
links:
  - {endpoints: [a, b]}
  - {endpoints: [b, c], delay: 1ms}
""")
    assert [lk.backend for lk in plan.links] == ["veth", "engine"]


def test_ospf_routers_have_no_static_routes_hosts_do():
    plan = plan_of(RING.replace("name: ring", "name: ring\ndefaults: {routing: ospf}"))
    assert plan.nodes["r1"].routes == ()
    assert plan.nodes["h1"].routes[0].dest == "default"
    assert plan.nodes["r1"].loopback and plan.nodes["r2"].loopback != plan.nodes["r1"].loopback


def test_external_node_plan_tells_the_device_its_addressing():
    from testbed.emulation.mounts import hosts_text
    topo = load_topology("ext.yaml", text="""
name: ext
nodes:
  server: {kind: host}
  r1: {kind: router}
  r2: {kind: router}
  cpe: {kind: external, interface: enp3s0}
links:
  - {endpoints: [server, r1]}
  - {endpoints: [r1, r2]}
  - {endpoints: [r2, cpe], delay: 50ms}
  - {endpoints: [r2, "host:enp4s0"]}
""")
    plan = make_plan(topo)
    assert topo.external == {"cpe": "enp3s0", "enp4s0": "enp4s0"}
    ports = {p.node: p for p in plan.external}
    cpe = ports["cpe"]
    assert (cpe.interface, cpe.peer) == ("enp3s0", "r2")
    assert cpe.gateway == plan.nodes["r2"].interfaces[1].address.split("/")[0]
    assert plan.nodes["cpe"].interfaces[0].name == "enp3s0"
    assert plan.link("r2--enp4s0").backend == "engine"            # even unimpaired: through the engine
    assert any("host interface enp3s0 is taken for external node \"cpe\"" in n for n in plan.notes)
    # the device is reachable from the network (a route to its subnet), and never transit
    assert any(r.dest == str(ipaddress.ip_interface(cpe.address).network) for r in plan.nodes["r1"].routes)
    assert [r.dest for r in plan.nodes["cpe"].routes] == ["default"]
    assert f"{cpe.address.split('/')[0]}\tcpe" in hosts_text(plan, "abcde")
    assert plan.to_dict()["external"][0]["interface"] == "enp3s0"


UNNUMBERED_RING = RING.replace("[r1, r2], cost: 10}", "[r1, r2], cost: 10, addresses: unnumbered}") \
    .replace("[r2, r4], cost: 10}", "[r2, r4], cost: 10, addresses: unnumbered}")


def test_unnumbered_links_carry_the_loopbacks_and_static_routes_go_onlink():
    plan = plan_of(UNNUMBERED_RING)
    lk = plan.link("r1--r2")
    assert lk.unnumbered and lk.subnet is None
    assert lk.a.address == plan.nodes["r1"].loopback and lk.b.address == plan.nodes["r2"].loopback
    assert plan.link("r1--r3").subnet and not plan.link("r1--r3").unnumbered   # the others keep their /30
    h4_subnet = plan.link("r4--h4").subnet
    route = next(r for r in plan.nodes["r1"].routes if r.dest == h4_subnet)
    assert (route.via, route.dev, route.onlink) == (plan.nodes["r2"].loopback.split("/")[0], lk.a.name, True)
    via_r3 = next(r for r in plan.nodes["r1"].routes if r.dest == plan.nodes["r3"].loopback)   # direct, numbered
    assert not via_r3.onlink
    assert plan.to_dict()["links"][1]["unnumbered"] is True


def test_unnumbered_needs_routers_at_both_ends():
    bad = RING.replace("- {endpoints: [h1, r1]}", "- {endpoints: [h1, r1], addresses: unnumbered}")
    with pytest.raises(InputError) as e:
        plan_of(bad)
    msg = str(e.value)
    assert "t.yaml:" in msg and "links[0].addresses" in msg
    assert 'unnumbered needs a router at both ends' in msg and '"h1" is a host' in msg


def test_addresses_neither_a_pair_nor_unnumbered_says_both_forms():
    with pytest.raises(InputError) as e:
        plan_of(RING.replace("[r1, r2], cost: 10}", "[r1, r2], cost: 10, addresses: unnumberd}"))
    assert "expected two addresses [a, b]" in str(e.value) and "or unnumbered" in str(e.value)

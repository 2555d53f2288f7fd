"""A Python scenario: a silent failure (blackhole, carrier kept) vs a clean cut on the same hop.

A cut is seen at once (carrier loss); a blackhole only when OSPF's dead interval (4 s) runs out,
so its outage is longer. `timeline(tb, at)` receives the running testbed.
"""

scenario = {
    "name": "blackhole-vs-cut",
    "description": "Blackhole vs cut on the Mithi-Islamkot microwave hop; OSPF reroutes over the satellite",
    "topology": "../topologies/thar-district.yaml",
    "seed": 13,
    "duration": "50s",
    "traffic": [
        {"name": "probe", "kind": "ping", "from": "school-a", "to": "server", "interval": "100ms", "timeout": "2s"},
    ],
    "expect": [
        "outage(probe) < 10s during 0s..22s",     # the blackhole: dead interval + SPF
        "outage(probe) > 2s during 0s..22s",
        "outage(probe) < 3s during 25s..45s",     # the cut: carrier loss, rerouted at once
        "probe.rtt.p50 > 500ms during 15s..20s",  # on the satellite meanwhile
    ],
}

HOP = "mithi-pop--tower-islamkot"


def timeline(tb, at):
    at("5s", tb.blackhole, HOP, True, label=f"blackhole {HOP}")
    at("22s", tb.blackhole, HOP, False, label=f"repair {HOP}")
    at("30s", tb.link_down, HOP)
    at("40s", tb.link_up, HOP)

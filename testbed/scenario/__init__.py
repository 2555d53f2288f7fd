"""Scenarios: a timeline of traffic and faults over a running testbed, and what must hold."""

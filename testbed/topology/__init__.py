"""Topology: YAML -> validated frozen model -> plan. Pure: no root, no Mininet."""

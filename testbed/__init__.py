"""testbed: emulate rural network backhaul in real namespaces, exactly and reproducibly."""

__version__ = "0.1.0"

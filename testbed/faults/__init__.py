"""Fault injectors, one per kind: apply() returns an undo."""

"""Fault kinds, one class each (registry.py lists them): options, load-time checks, expand() into undoable steps."""

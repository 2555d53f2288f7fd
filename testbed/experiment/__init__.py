"""Repeated runs and parameter sweeps: per-run values, their summaries and confidence intervals."""

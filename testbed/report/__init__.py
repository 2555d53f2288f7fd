"""Run reports: a self-contained report.html with plots and a short report.md, and run-to-run comparison.

    from testbed.report import build_report, build_comparison
    build_report("results/<run-id>")                     # -> results/<run-id>/report.html (+ report.md)
    build_comparison("results/v1", "results/v2")         # -> results/v2/compare-v1.html (+ .md)
"""

from .build import build_comparison, build_report

__all__ = ["build_report", "build_comparison"]

"""junit.xml: one testcase per expectation, the measured value in every message."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from .contract import ExpectationDoc


def junit_xml(suite: str, expectations: Sequence[ExpectationDoc], elapsed_s: float, status: str,
              error: str | None = None) -> str:
    """expectations: results.json's list ({expr, measured, measured_text, passed, note, ...})."""
    failures = sum(1 for e in expectations if not e["passed"])
    errors = 1 if status in ("interrupted", "error", "broken") else 0
    ts = ET.Element("testsuite", name=suite, tests=str(len(expectations) + errors), failures=str(failures),
                    errors=str(errors), time=f"{elapsed_s:.3f}")
    for e in expectations:
        tc = ET.SubElement(ts, "testcase", classname=f"scenario.{suite}", name=e["expr"], time="0")
        measured = e.get("measured_text") or str(e.get("measured"))
        if e["passed"]:
            ET.SubElement(tc, "system-out").text = f"measured {measured} ({e.get('samples', 0)} samples)"
        else:
            why = f"; {e['note']}" if e.get("note") else ""
            f = ET.SubElement(tc, "failure", message=f"{e['expr']}: measured {measured}{why}", type="ExpectationFailed")
            f.text = f"expected {e['expr']}\nmeasured {measured} over {e.get('samples', 0)} samples{why}"
    if errors:
        tc = ET.SubElement(ts, "testcase", classname=f"scenario.{suite}", name="run completed", time=f"{elapsed_s:.3f}")
        ET.SubElement(tc, "error", message=f"run {status}" + (f": {error}" if error else ""), type=status)
    ET.indent(ts)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(ts, encoding="unicode") + "\n"

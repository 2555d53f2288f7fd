"""python -m bench [name ...]: run the benchmarks and print one table each."""

from __future__ import annotations

import logging
import sys

from . import discover, format_table


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.WARNING)
    failed = 0
    for mod in discover(argv or None):
        title = getattr(mod, "TITLE", mod.__name__)
        print(f"\n## {title}\n", flush=True)
        try:
            rows = mod.run()
        except Exception as e:  # one broken benchmark must not hide the others' numbers
            failed += 1
            print(f"FAILED: {type(e).__name__}: {e}", flush=True)
            continue
        print(format_table(rows), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Traffic runners, one per kind: check() -> start() -> stop() -> parse() (parse is pure)."""

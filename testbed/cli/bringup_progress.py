"""A progress bar over the bring-up steps (nodes, links, daemons, convergence), with counts."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

STEPS = {"nodes": "nodes", "links": "links", "daemons": "routing daemons", "convergence": "convergence checks"}


class BringUpProgress:
    """Callable as Testbed's on_progress(step, done, total); a context manager around bring-up."""

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.enabled = enabled and self.console.is_terminal
        self._progress = Progress(TextColumn("{task.description:<19}"), BarColumn(), MofNCompleteColumn(),
                                  TimeElapsedColumn(), console=self.console, transient=False)
        self._tasks: dict[str, Any] = {}

    def __call__(self, step: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        if step not in self._tasks:
            self._tasks[step] = self._progress.add_task(STEPS.get(step, step), total=total)
        self._progress.update(self._tasks[step], completed=done, total=total)

    def __enter__(self) -> BringUpProgress:
        if self.enabled:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._progress.stop()

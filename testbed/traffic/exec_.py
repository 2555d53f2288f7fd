"""exec flows: the user's own command on a node; exit code and run time."""

from __future__ import annotations

import threading

from .base import FlowResult, Runner, said


def exit_expected(code: int, expect: object) -> bool:
    """The exit code is the one `expect_exit` names (a number or a list of them)."""
    return code in expect if isinstance(expect, (list, tuple)) else code == expect


class ExecRunner(Runner):
    kind = "exec"

    def start(self) -> None:
        self.output = self.out("stdout.txt")
        self.started_at = self.ctx.now()
        p = self.spawn(self.src, list(self.spec.options["cmd"]), self.output)
        self.finished_at: float | None = None

        def watch() -> None:
            p.wait()
            self.finished_at = self.ctx.now()
        threading.Thread(target=watch, name=f"exec-{self.spec.name}", daemon=True).start()

    def stop(self) -> None:
        self.stopped_at = self.ctx.now()
        self.was_running = self.running()
        super().stop()

    def result(self) -> FlowResult:
        r = self.new_result()
        p = self.procs[0] if self.procs else None
        code = p.returncode if p is not None else None
        end = getattr(self, "finished_at", None) or getattr(self, "stopped_at", self.ctx.now())
        stopped = getattr(self, "was_running", False)
        r.summary = {"exit_code": code, "stopped_by_testbed": stopped}
        if code is not None and not stopped and not exit_expected(code, self.spec.options.get("expect_exit", 0)):
            # why it failed, where the flow table shows it: its last line on stderr (else on stdout)
            last = said(self.output.with_suffix(self.output.suffix + ".err")) or said(self.output)
            r.summary["said"] = last[2:] if last else ""
        if code is not None:
            t = float(end or 0.0)
            if stopped:
                # a server testbed stopped at the flow's end ran until then: its sample belongs to the run
                # (a stop lands a few ms after the scenario's end, and samples after it are not kept)
                t = min(t, self.spec.end_s(self.ctx.duration_s))
            r.series = {"exit_code": [(t, float(code))], "runtime": [(t, t - (self.started_at or 0.0))]}
        return r

"""The `testbed up` prompt's lines and background jobs: `NODE CMD... &`, `jobs`, `kill %N`, as in a shell.

A node command with shell syntax (`>`, `|`, `&&`, `;`, `$`, quotes, globs) goes to `sh -c` in the node, as
Mininet's CLI does: `clinic echo hi > /tmp/x.txt` writes the file in the node instead of printing "hi > ...".
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
from dataclasses import dataclass

from ..errors import UsageError

# what makes sh read a line differently from a plain split into words (redirections, pipes, lists,
# expansions, quotes, globs, subshells, escapes)
SHELL_SYNTAX = re.compile(r"""[<>|&;$`'"*?\[\]~(){}\\]""")


@dataclass(frozen=True)
class Line:
    """One prompt line: its first word, the rest as written, and whether it ends in a background `&`."""

    head: str
    rest: str
    background: bool

    @property
    def shell(self) -> bool:
        """Whether the rest needs a shell (for a node command: run it with `sh -c`)."""
        return bool(SHELL_SYNTAX.search(self.rest))

    def words(self) -> list[str]:
        """The rest split into words like a shell would split them (ValueError on an open quote)."""
        return shlex.split(self.rest)


def parse_line(line: str) -> Line | None:
    """The prompt line, its trailing `&` taken off (never that of `&&` or an escaped `\\&`); None when empty.

    ValueError when the first word is an unclosed quote."""
    text = line.strip()
    background = False
    if text.endswith("&") and not text.endswith("&&") and not text.endswith("\\&"):
        text, background = text[:-1].rstrip(), True
    if not text:
        return None
    first = shlex.split(text.split(None, 1)[0])
    head = first[0] if first else ""
    rest = text.split(None, 1)[1].strip() if len(text.split(None, 1)) > 1 else ""
    return Line(head, rest, background)


def shell_argv(rest: str) -> list[str]:
    """A node command with shell syntax, as the node's shell runs it."""
    return ["sh", "-c", rest]


def split_background(words: list[str]) -> tuple[list[str], bool]:
    """Strip a trailing `&` (a word of its own or glued to the last word): (words, background)."""
    if words and words[-1] == "&":
        return words[:-1], True
    if words and words[-1].endswith("&") and not words[-1].endswith("\\&"):
        return words[:-1] + [words[-1][:-1]], True
    return words, False


@dataclass
class Job:
    number: int
    node: str
    line: str
    proc: subprocess.Popen

    def state(self) -> str:
        rc = self.proc.poll()
        return "Running" if rc is None else ("Done" if rc == 0 else f"Exit {rc}")


class Jobs:
    """Numbered background programs; finished ones are reported once, then forgotten."""

    def __init__(self) -> None:
        self._jobs: dict[int, Job] = {}
        self._next = 1

    def add(self, node: str, line: str, proc: subprocess.Popen) -> Job:
        job = Job(self._next, node, line, proc)
        self._jobs[job.number] = job
        self._next += 1
        return job

    def listing(self) -> list[str]:
        """`jobs`: every job with its state; finished jobs leave the table once listed."""
        out = [f"[{j.number}] {j.state():9} {j.node} {j.line}" for j in self._jobs.values()]
        self._forget_done()
        return out

    def finished(self) -> list[str]:
        """Jobs that ended since the last call, as a shell reports them before its prompt."""
        out = [f"[{j.number}] {j.state():9} {j.node} {j.line}" for j in self._jobs.values()
               if j.proc.poll() is not None]
        self._forget_done()
        return out

    def _forget_done(self) -> None:
        for n in [n for n, j in self._jobs.items() if j.proc.poll() is not None]:
            del self._jobs[n]
        if not self._jobs:
            self._next = 1

    def kill(self, spec: str, sig: int = signal.SIGTERM) -> Job:
        """`kill %N` (or `kill N`): signal that job's program."""
        try:
            number = int(spec.lstrip("%"))
        except ValueError:
            raise UsageError(f'usage: kill %N (a job number from `jobs`), got "{spec}"') from None
        job = self._jobs.get(number)
        if job is None or job.proc.poll() is not None:
            known = ", ".join(f"%{n}" for n, j in self._jobs.items() if j.proc.poll() is None) or "none"
            raise UsageError(f"no running job %{number}; running: {known}")
        job.proc.send_signal(sig)
        return job

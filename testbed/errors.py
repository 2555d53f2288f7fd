"""Every user-facing failure is a TestbedError; the CLI maps the class to an exit code."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

EXCERPT_CHARS = 60      # of a value quoted in a message
MESSAGE_CHARS = 600     # of a whole message: "known: ..." lists included


class TestbedError(Exception):
    """Base of all errors the CLI reports without a traceback."""

    exit_code = 1
    __test__ = False  # not a pytest test class despite the name


@dataclass(frozen=True)
class Problem:
    """One problem found in an input file, located by file, line and column (1-based)."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __post_init__(self) -> None:
        # a safety net under excerpt(): whatever a message quotes, it stays one bounded line
        object.__setattr__(self, "message", one_line(self.message, MESSAGE_CHARS))
        object.__setattr__(self, "path", one_line(self.path, EXCERPT_CHARS * 2))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class InputError(TestbedError):
    """Invalid input: a topology or scenario that cannot be used as written (exit 2)."""

    exit_code = 2

    def __init__(self, problems: Iterable[Problem] | str):
        if isinstance(problems, str):
            self.problems: list[Problem] = []
            super().__init__(problems)
        else:
            self.problems = list(problems)
            super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(TestbedError):
    """Wrong command-line use (exit 2)."""

    exit_code = 2


class CapabilityError(TestbedError):
    """The machine cannot do what was asked (exit 3); the message says how to fix it."""

    exit_code = 3

    def __init__(self, what: str, fix: str):
        self.what = what
        self.fix = fix
        super().__init__(f"{what}\n  fix: {fix}")


class EmulationError(TestbedError):
    """Something failed while the emulated network was running (exit 4: not an expectation, not the input)."""

    exit_code = 4


class StepFailed(EmulationError):
    """A scenario step (a fault, its revert, a flow's start, a script call) could not be carried out.
    The run stops there with status "error" (exit 4): a scenario whose fault never happened would
    otherwise be judged as if it had, and could pass."""


class NetworkBroken(EmulationError):
    """A process the emulated network needs (the link engine, a routing daemon, a node's shell)
    died while it ran (exit 4). Carries what died, its pid, how, and when (time.monotonic()).

    str() is HEADLINE + ": " + describe(); a message built from it must not add HEADLINE again."""

    HEADLINE = "the emulated network broke"

    def __init__(self, what: str, pid: int, how: str, at_mono: float):
        self.what, self.pid, self.how, self.at_mono = what, pid, how, at_mono
        super().__init__(self.message())

    def message(self, t0_mono: float | None = None) -> str:
        """The whole sentence, said once: "the emulated network broke: the link engine (pid 12) died ..."."""
        return f"{self.HEADLINE}: {self.describe(t0_mono)}"

    def describe(self, t0_mono: float | None = None) -> str:
        """"the link engine (pid 12) died at t=20.3s: killed by SIGKILL" (t from t0_mono, if given)."""
        when = f" at t={self.at_mono - t0_mono:.1f}s" if t0_mono is not None else ""
        return f"{self.what} (pid {self.pid}) died{when}: {self.how}"

    def to_dict(self, t0_mono: float | None = None) -> dict[str, object]:
        return {"what": self.what, "pid": self.pid, "how": self.how,
                "t": round(self.at_mono - t0_mono, 3) if t0_mono is not None else None}


class ExpectationFailed(TestbedError):
    """At least one expectation of a scenario did not hold (exit 1)."""

    exit_code = 1


def one_line(text: str, limit: int) -> str:
    """text with control characters escaped, cut to about `limit` characters."""
    text = str(text)
    safe = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text[:limit + 1])
    if len(text) > limit:
        safe = f"{safe[:limit]}… ({len(text)} characters)"
    return safe


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """A value as a message may quote it: one line, control characters escaped, at most `limit` characters.

    Messages end up in terminals, CI logs and reports; a value read from a file (or a file read by mistake)
    must not paste its whole text, its newlines or its escape sequences there.
    """
    return f'"{one_line(value if isinstance(value, str) else repr(value), limit)}"'


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """' (did you mean "x"?)' when a known word is close to `word`, else ''.

    A case slip (`school-A`) and a link named from its other end (`mithi-pop--internet` for
    `internet--mithi-pop`) are found first: spelling distance ranks neither as the closest."""
    known = list(known)
    w = str(word)[:200]
    exact = [k for k in known if k.lower() == w.lower()]
    if not exact and "--" in w:
        a, _, b = w.partition("--")
        flipped = f"{b}--{a}".lower()
        exact = [k for k in known if k.lower() == flipped]
    close = exact or difflib.get_close_matches(w, known, n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def unknown(kind: str, word: str, known: Iterable[str]) -> str:
    """Message for an unknown name: lists what is known and suggests the closest."""
    known = sorted(known)
    return f'unknown {kind} {excerpt(word)}{did_you_mean(word, known)}; known: {", ".join(known)}'

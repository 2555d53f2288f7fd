"""`testbed experiment FILE --cluster cluster.yaml`: the sweep's runs spread over servers, at once.

Each run (point x repetition) is independent, so servers take shares of the run list (by their cores)
and run them with the very same `testbed experiment`, told which runs with --runs. Every share runs in
a session of its own on its server, over that server's one ssh master:

    unshare --mount: a private tmpfs on /tmp      the inputs, the share's --out, testbed's own work
                                                  folders: gone with the session, even when killed
    inputs sent as a tar stream (nsenter into that mount namespace)
    progress comes back as JSON lines; each finished run is pulled back as a tar stream into the
    local --out, with the copies' paths in its documents mapped back to the local inputs

A server that is lost (its master's connection fails) hands its unfinished runs back; the servers still
there take them when they finish their own. The local folder then holds the same run folders a
single-machine sweep would, and experiment.json, results.csv and junit.xml are written from them by the
one writer a --resume uses (sweep.write_outputs). No server left: exit 4 naming them, completed runs kept.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import shutil
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cluster.model import Cluster, Server
from ..cluster.remote import SSH_LOST, Connection
from ..errors import EmulationError, InputError
from ..results.contract import ContractError, ExperimentDoc
from ..results.documents import MANIFEST_FILE, RESULTS_FILE, read_manifest, read_results
from ..results.inputs import collect
from ..safewrite import check_folder, write_text
from .spec import Experiment

log = logging.getLogger(__name__)

Run = tuple[str, int]                    # (point id, repetition)

REMOTE_ROOT = "/tmp/testbed-sweep"       # on the session's private tmpfs
REMOTE_IN = f"{REMOTE_ROOT}/in"
REMOTE_OUT = f"{REMOTE_ROOT}/out"
STOP_GRACE_S = 60                        # a stopped share's interrupted run writes its results and tears down

# The session a share runs in. $1 python, $2 the experiment file (relative to the inputs), $3 --runs,
# $4 --fresh or nothing. It waits for "go" (the inputs are in) and, at the end, for its stdin to close:
# its tmpfs lives as long as it does, and the last run must be pulled before it goes.
# testbed itself may be installed under /tmp (a checkout and its venv there): what it imports from is bound
# back into the new /tmp from the old one, reached through an fd opened before the tmpfs hid it (not
# canonicalized: mount would resolve /proc/self/fd/9 to the path "/tmp" and bind the new /tmp to itself).
WRAPPER = r"""
set -e
keep=$("$1" -c 'import sys, testbed; print(sys.prefix); print(testbed.__file__)' | sed -n 's#^/tmp/\([^/]*\).*#\1#p' | sort -u)
exec 9</tmp
mount -t tmpfs -o mode=1777 testbed-sweep /tmp
for d in $keep; do mkdir -p "/tmp/$d"; mount --no-canonicalize --bind "/proc/self/fd/9/$d" "/tmp/$d"; done
exec 9<&-
mkdir -p /tmp/testbed-sweep/in /tmp/testbed-sweep/out
echo "{\"shell\": $$}"
read go
cd /tmp/testbed-sweep/in
set +e
"$1" -m testbed.cli experiment "$2" --out /tmp/testbed-sweep/out --runs "$3" --progress jsonl $4 </dev/null &
echo "{\"child\": $!}"
wait $!
echo "{\"exit\": $?}"
read done
"""


class ServersLost(EmulationError):
    """Every server was lost before the sweep was done (exit 4)."""

    def __init__(self, lost: dict[str, str], left: int, out: Path):
        self.lost = dict(lost)
        names = ", ".join(f"{s} ({why})" for s, why in lost.items())
        super().__init__(f"no server left: lost {names}; {left} run{'s' if left != 1 else ''} not made. "
                         f"The completed runs are in {out}: finish with --resume (with --cluster, or on this "
                         "machine)")


@dataclass(frozen=True)
class Event:
    """Progress of the spread sweep: a run started or came back, a server was lost, runs went back."""

    kind: str                 # start | done | lost | requeued
    server: str
    run: Run | None = None
    text: str = ""
    done: int = 0
    total: int = 0


@dataclass
class Outcome:
    """What came of a spread sweep: experiment.json's document, and who was lost and why."""

    doc: ExperimentDoc
    lost: dict[str, str] = field(default_factory=dict)
    ran_on: dict[str, list[Run]] = field(default_factory=dict)
    seconds: float = 0.0


def shares(runs: Sequence[Run], servers: Sequence[Server]) -> dict[str, list[Run]]:
    """The run list cut into contiguous shares by cores (pure): a server's runs are neighbours, so they
    mostly differ only in link parameters and keep one network up between them (experiment.reuse)."""
    total_cores = sum(s.cores for s in servers)
    out: dict[str, list[Run]] = {}
    start = 0
    acc = 0
    for s in servers:
        acc += s.cores
        end = round(len(runs) * acc / total_cores)
        out[s.name] = list(runs[start:end])
        start = end
    return out


def format_runs(runs: Sequence[Run]) -> str:
    """--runs' text for these runs (short point ids: pNN)."""
    return ",".join(f"{pid.split('-', 1)[0]}:{r}" for pid, r in runs)


def parse_line(line: bytes | str) -> dict[str, Any] | None:
    """A JSON object line of a share's session, or None for anything else (a login banner, a warning)."""
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    text = text.strip()
    if not text.startswith("{"):
        return None
    try:
        msg = json.loads(text)
    except ValueError:
        return None
    return msg if isinstance(msg, dict) else None


def map_paths(doc: Any, old: str, new: str) -> Any:
    """doc with every string that is `old` or under it rebased onto `new` (pure)."""
    if isinstance(doc, dict):
        return {k: map_paths(v, old, new) for k, v in doc.items()}
    if isinstance(doc, list):
        return [map_paths(v, old, new) for v in doc]
    if isinstance(doc, str) and (doc == old or doc.startswith(old + "/")):
        return new + doc[len(old):]
    return doc


class Queue:
    """The runs still to make: each server's own share, then what lost servers handed back."""

    def __init__(self, own: dict[str, list[Run]]) -> None:
        self.own = {s: list(r) for s, r in own.items()}
        self.spare: deque[Run] = deque()
        self.busy: set[str] = set()
        self.alive = set(own)
        self.stopped = False
        self.cond = threading.Condition()

    def take(self, server: str) -> list[Run] | None:
        """The next batch for `server`, or None when there is nothing left it could get."""
        with self.cond:
            while True:
                if self.stopped or server not in self.alive:
                    return None
                if self.own.get(server):
                    batch, self.own[server] = self.own[server], []
                elif self.spare:
                    n = math.ceil(len(self.spare) / max(1, len(self.alive - self.busy)))
                    batch = [self.spare.popleft() for _ in range(min(n, len(self.spare)))]
                elif self.busy:
                    self.cond.wait()      # a busy server may yet be lost and hand runs back
                    continue
                else:
                    return None
                self.busy.add(server)
                return batch

    def finished(self, server: str, unfinished: Sequence[Run] = ()) -> None:
        with self.cond:
            self.busy.discard(server)
            self.spare.extend(unfinished)
            self.cond.notify_all()

    def lost(self, server: str, unfinished: Sequence[Run]) -> int:
        """The server is gone: its runs, the unfinished and the not yet begun, go back; how many."""
        with self.cond:
            back = [*unfinished, *self.own.get(server, [])]
            self.alive.discard(server)
            self.own[server] = []
            self.busy.discard(server)
            self.spare.extend(back)
            self.cond.notify_all()
            return len(back)

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify_all()

    def left(self) -> list[Run]:
        with self.cond:
            return [r for runs in self.own.values() for r in runs] + list(self.spare)


@dataclass(frozen=True)
class Inputs:
    """The experiment's input files as one tar stream, laid out as below their common folder."""

    root: str                 # the local common folder; REMOTE_IN stands for it on a server
    experiment: str           # the experiment file, relative to root
    tar: bytes


def pack_inputs(exp: Experiment) -> Inputs:
    """Every file the sweep's runs read (results.inputs.collect), so relative references still resolve."""
    paths = list(dict.fromkeys([*exp.inputs, *(i.path for i in collect(exp.scenario, exp.file))]))
    files = [p for p in paths if os.path.isfile(p)]
    root = os.path.commonpath([str(Path(p).parent) for p in files])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in files:
            tar.add(p, arcname=os.path.relpath(p, root), recursive=False)
    return Inputs(root, os.path.relpath(str(Path(exp.file).resolve()), root), buf.getvalue())


class Share:
    """One server's part: its ssh master, and the batches it runs until the queue is empty or it is lost."""

    def __init__(self, sweep: Spread, server: Server) -> None:
        self.sweep, self.server = sweep, server
        self.conn = Connection(sweep.cluster, server, sweep.workdir)
        self.child: int | None = None        # the remote testbed's pid, while a batch runs
        self.shell: int | None = None
        self.todo: list[Run] = []            # the batch's runs not yet brought back
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.work, name=f"share-{server.name}", daemon=True)

    def work(self) -> None:
        name = self.server.name
        why = self.conn.open()
        if why is not None:
            self.sweep.lose(self, why, [])
            return
        try:
            while (batch := self.sweep.queue.take(name)) is not None:
                self.todo = list(batch)
                why = self.run_batch()
                if why is not None:
                    self.sweep.lose(self, why, self.todo)
                    return
                left, self.todo = self.todo, []
                self.sweep.queue.finished(name, left)
                if left and not self.sweep.stopping.is_set():
                    # its testbed ended early without the server being lost: not again there
                    self.sweep.lose(self, f"its testbed stopped with {len(left)} of its runs not made", [])
                    return
        except Exception as e:     # anything unforeseen loses the server, never the sweep
            log.exception("share on %s failed", name)
            self.sweep.lose(self, f"{type(e).__name__}: {e}", self.todo)
        finally:
            self.conn.close()

    def run_batch(self) -> str | None:
        """Run the batch self.todo on the server, removing each run brought back; why the server is lost,
        or None."""
        sweep = self.sweep
        todo = self.todo
        argv = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", WRAPPER, "sh",
                self.server.python, sweep.inputs.experiment, format_runs(todo), "--fresh" if sweep.fresh else ""]
        errfile = (sweep.workdir / f"{self.server.name}.session.err").open("wb")
        proc = self.conn.popen(argv, stdin=-1, stdout=-1, stderr=errfile)
        assert proc.stdin is not None and proc.stdout is not None
        exit_status: int | None = None
        why: str | None = None
        try:
            for line in proc.stdout:
                msg = parse_line(line)
                if msg is None:
                    continue
                if "shell" in msg:
                    self.shell = int(msg["shell"])
                    cp = self.conn.run(self.ns(["tar", "-x", "-C", REMOTE_IN]), input=sweep.inputs.tar)
                    if cp.returncode != 0:
                        why = _ssh_why(cp.returncode, cp.stderr, "sending the inputs failed")
                        break
                    proc.stdin.write(b"go\n")
                    proc.stdin.flush()
                elif "child" in msg:
                    with self.lock:
                        self.child = int(msg["child"])
                elif "tick" in msg:
                    t = msg["tick"]
                    run = (str(t["point"]), int(t["rep"]))
                    if t.get("running"):
                        sweep.event(Event("start", self.server.name, run, str(t.get("text", ""))))
                    elif run in todo:
                        problem = self.bring_back(run)
                        if problem is not None:
                            why = problem
                            break
                        todo.remove(run)
                        sweep.arrived(self.server.name, run, str(t.get("text", "")))
                elif "exit" in msg:
                    exit_status = int(msg["exit"])
                    break
        finally:
            if exit_status is None and why is not None and self.conn.alive():
                self.stop("TERM")           # left early (a failed pull): its testbed must not run on unread
            with self.lock:
                self.child = None
            try:
                proc.stdin.close()          # the session may end: everything was pulled
            except OSError:
                pass
            try:
                rc = proc.wait(timeout=30)
            except Exception:
                proc.kill()
                rc = proc.wait()
            errfile.close()
        if why is None and exit_status is None:
            err = (sweep.workdir / f"{self.server.name}.session.err").read_bytes()
            why = _ssh_why(rc, err, "its session ended early")
        if why is None and exit_status not in (0, 1, 130) and todo:
            err = (sweep.workdir / f"{self.server.name}.session.err").read_bytes()
            log.warning("testbed on %s exited %s: %s", self.server.name, exit_status, err[-2000:])
            why = f"testbed there exited {exit_status}: {_last_line(err) or 'no message'}"
        return why

    def ns(self, argv: list[str]) -> list[str]:
        """argv run inside the share's mount namespace (where its tmpfs is)."""
        return ["nsenter", "-t", str(self.shell), "-m", "--", *argv]

    def bring_back(self, run: Run) -> str | None:
        """Pull one finished run's folder into the local --out; None, or why the server is lost."""
        sweep = self.sweep
        pid, rep = run
        rel = f"points/{pid}/run-{rep:02d}"
        stage = Path(tempfile.mkdtemp(prefix=f"{self.server.name}-", dir=sweep.staging))
        try:
            with (stage / "run.tar").open("wb") as f:
                rc, err = self.conn.pull(self.ns(["tar", "-c", "-C", REMOTE_OUT, rel]), f)
            if rc != 0:
                return _ssh_why(rc, err.encode(), f"pulling {rel} failed")
            with tarfile.open(stage / "run.tar") as tar:
                tar.extractall(stage / "x", filter="data")
            sweep.place(stage / "x" / rel, sweep.out / rel)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        # the next run's network and tools share this tmpfs: free it of what came back
        self.conn.run(self.ns(["rm", "-rf", "--", f"{REMOTE_OUT}/{rel}"]))
        return None

    def stop(self, signal: str = "TERM") -> None:
        """Stop the remote testbed like Ctrl-C (its run in progress writes its results, tears down)."""
        with self.lock:
            child = self.child
        if child is not None:
            self.conn.run(["kill", f"-{signal}", str(child)], timeout_s=15)


class Spread:
    """One spread sweep: the queue, the shares, and the local --out the runs come back into."""

    def __init__(self, exp: Experiment, cluster: Cluster, out: Path, workdir: Path, staging: Path, *,
                 fresh: bool, on_event: Callable[[Event], None]) -> None:
        """workdir: the ssh control sockets and logs (a short path: a socket's is limited to 107 bytes);
        staging: pulled runs before they move into `out` (the same filesystem, so the move is a rename)."""
        self.exp, self.cluster, self.out, self.workdir, self.fresh = exp, cluster, out, workdir, fresh
        self.staging = staging
        self.on_event = on_event
        self.inputs = pack_inputs(exp)
        self.stopping = threading.Event()
        self.lost: dict[str, str] = {}
        self.ran_on: dict[str, list[Run]] = {s.name: [] for s in cluster.servers}
        self.done = 0
        self.total = 0
        self.lock = threading.Lock()
        self.queue = Queue({})

    def event(self, e: Event) -> None:
        with self.lock:
            self.on_event(Event(e.kind, e.server, e.run, e.text, self.done, self.total))

    def arrived(self, server: str, run: Run, text: str) -> None:
        with self.lock:
            self.done += 1
            self.ran_on[server].append(run)
        self.event(Event("done", server, run, text))

    def lose(self, share: Share, why: str, unfinished: list[Run]) -> None:
        name = share.server.name
        with self.lock:
            self.lost[name] = why
        back = self.queue.lost(name, unfinished)
        self.event(Event("lost", name, None, why))
        if back and not self.stopping.is_set():
            self.event(Event("requeued", name, None, f"{back} run{'s' if back != 1 else ''} go to the servers left"))

    def place(self, staged: Path, dest: Path) -> None:
        """A pulled run folder into --out, its documents' paths mapped from the server's copies to ours."""
        for read, name in ((read_manifest, MANIFEST_FILE), (read_results, RESULTS_FILE)):
            try:
                doc = read(staged)
            except ContractError as e:      # kept as it came: not a complete run, so --resume makes it again
                log.warning("a run pulled into %s: %s", dest, e)
                continue
            write_text(staged / name, json.dumps(map_paths(doc, REMOTE_IN, self.inputs.root), indent=1) + "\n")
        if dest.exists():           # a run an earlier sweep began and did not finish (not kept by --resume)
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, dest)

    def run(self, runs: list[Run]) -> None:
        """Spread `runs` over the servers and wait for them; KeyboardInterrupt stops every server's share,
        keeps what came back, and is re-raised."""
        self.total = len(runs)
        self.queue = Queue(shares(runs, self.cluster.servers))
        workers = [Share(self, s) for s in self.cluster.servers]
        for w in workers:
            w.thread.start()
        try:
            _join(workers)
        except KeyboardInterrupt:
            self.stopping.set()
            self.queue.stop()
            for w in workers:
                w.stop("TERM")
            deadline = time.monotonic() + STOP_GRACE_S
            try:
                _join(workers, deadline)
            except KeyboardInterrupt:
                pass
            for w in workers:        # a second Ctrl-C, or the grace ran out
                if w.thread.is_alive():
                    w.stop("KILL")
            _join(workers, time.monotonic() + 15)
            raise


def _join(workers: list[Share], deadline: float | None = None) -> None:
    for w in workers:
        while w.thread.is_alive() and (deadline is None or time.monotonic() < deadline):
            w.thread.join(timeout=0.5)   # short: Ctrl-C reaches the main thread between joins


def _ssh_why(rc: int, err: bytes, what: str) -> str:
    last = _last_line(err)
    if rc == SSH_LOST:
        return f"connection lost ({last})" if last else "connection lost"
    return f"{what} (exit {rc}{': ' + last if last else ''})"


def _last_line(err: bytes) -> str:
    lines = [ln.strip() for ln in err.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ""


def spread_experiment(exp: Experiment, cluster: Cluster, out: Path, *, resume: bool = False, fresh: bool = False,
                      on_event: Callable[[Event], None] | None = None) -> Outcome:
    """Run the sweep's pending runs on the cluster's servers, then write its documents from --out.

    Same folder rules as a single-machine sweep: an --out holding an experiment needs resume=True and the
    same inputs. KeyboardInterrupt: the documents are written from what came back, then it is re-raised.
    Raises ServersLost (exit 4) when every server was lost with runs still to make."""
    from .sweep import check_resume, pending_runs, write_outputs
    check_folder(out, "--out")
    if resume:
        check_resume(exp, out)
    elif (out / "experiment.json").exists():
        raise InputError(f"{out} already holds an experiment: use --resume to finish it, or another --out")
    t0 = time.monotonic()
    todo = pending_runs(exp, out)
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="tbspread-") as tmp, \
            tempfile.TemporaryDirectory(prefix=".spread-", dir=out) as staging:
        sweep = Spread(exp, cluster, out, Path(tmp), Path(staging), fresh=fresh,
                       on_event=on_event or (lambda e: None))
        try:
            if todo:
                sweep.run(todo)
        except KeyboardInterrupt:
            interrupted = True
    doc = write_outputs(exp, out, interrupted=interrupted)
    outcome = Outcome(doc, dict(sweep.lost), sweep.ran_on, time.monotonic() - t0)
    if interrupted:
        raise KeyboardInterrupt
    # runs that came back with an error are results like any other (as on one machine); only runs that
    # never came back mean the servers ran out
    back = {r for runs in sweep.ran_on.values() for r in runs}
    left = [r for r in todo if r not in back]
    if left:
        raise ServersLost(sweep.lost or {"?": "no server took the runs"}, len(left), out)
    return outcome

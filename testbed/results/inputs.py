"""What a run is made of: every input file, hashed, and the bundle's own copies of them (RUN/inputs/).

The YAML files alone do not make a run: a prototype (`files:` payloads, the program an exec flow runs) is
part of it, so editing mycache.py between a run and its reproduction must show. The copies mirror the
folders the inputs came from (relative to their common folder), so the copied scenario still finds the copied
topology, and the copied topology its copied payloads, wherever the bundle is moved.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .contract import CopiesDoc, InputDoc

if TYPE_CHECKING:
    from ..scenario.model import Scenario

log = logging.getLogger(__name__)

COPIES_DIR = "inputs"
COPY_LIMIT_BYTES = 20 * 1024 * 1024    # above this in total the bundle keeps hashes only (and says so)


@dataclass(frozen=True)
class Input:
    """One file the run depended on: what it is to the run (role, and where it is used) and its path."""

    path: str               # absolute
    role: str               # scenario | topology | experiment | file | program | trace | input
    used: str = ""          # e.g. "files: /opt/mycache.py of clinic", "argv[1] of flow warm"
    flow: str | None = None  # a program: the exec flow whose argv names it
    arg: int | None = None   # ... and the argv index


def sha256(path: str | Path) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


def collect(sc: Scenario, experiment_file: str | None = None) -> list[Input]:
    """Every file the run reads: the scenario's own inputs (scenario first, topology second), the experiment
    file of a point's run, each `files:` payload, each link trace, and each program file an exec flow names
    that lies in the scenario's or the topology's folder. Each path once, first role wins."""
    own = list(sc.inputs)
    out = [Input(p, "scenario" if i == 0 else "topology" if i == 1 else "input") for i, p in enumerate(own)]
    if experiment_file:
        out.append(Input(str(Path(experiment_file).resolve()), "experiment"))
    topo = sc.topology
    for n in topo.nodes:
        out += [Input(src, "file", f"files: {target} of {n.name}") for target, src in n.files]
    for lk in topo.links:
        out += [Input(str(t), "trace", f"trace of {lk.name} {d}") for d in ("ab", "ba")
                if (t := getattr(getattr(lk.params, d), "trace", None))]
    folders = _folders(sc)
    for t in sc.traffic:
        if t.kind != "exec":
            continue
        for i, arg in enumerate(t.options.get("cmd") or ()):
            f = program_file(str(arg), folders)
            if f is not None:
                out.append(Input(f, "program", f"argv[{i}] of flow {t.name}", t.name, i))
    seen: dict[str, Input] = {}
    for x in out:
        seen.setdefault(x.path, x)
    return list(seen.values())


def _folders(sc: Scenario) -> list[Path]:
    return list(dict.fromkeys(Path(p).resolve().parent for p in (sc.file, sc.topology_file) if p))


def program_file(arg: str, folders: list[Path]) -> str | None:
    """The file an argv element names, when it is one in (or under) the scenario's or topology's folder.

    A relative name is tried against the working folder (where the program runs from) and each folder."""
    if not arg or arg.startswith("-") or "\0" in arg:
        return None
    p = Path(arg)
    tries = [p] if p.is_absolute() else [Path.cwd() / p, *(d / p for d in folders)]
    for c in tries:
        try:
            r = c.resolve()
            if r.is_file() and any(r.is_relative_to(d) for d in folders):
                return str(r)
        except (OSError, ValueError):
            continue
    return None


def keep(inputs: list[Input], run_dir: Path,
         limit_bytes: int = COPY_LIMIT_BYTES) -> tuple[list[InputDoc], CopiesDoc | None]:
    """Hash every input and, when they fit under limit_bytes together, copy them all into run_dir/inputs/.

    All or none: a bundle with some inputs copied could not run from its copies either. Each copy is written
    from the same bytes that were hashed, so a copy always matches its manifest entry."""
    sizes = {x.path: _size(x.path) for x in inputs}
    total = sum(s for s in sizes.values() if s is not None)
    readable = [x.path for x in inputs if sizes[x.path] is not None]
    root = os.path.commonpath([str(Path(p).parent) for p in readable]) if readable else ""
    copy = bool(readable) and total <= limit_bytes
    note = None if copy else (f"the inputs total {total} bytes, above the {limit_bytes}-byte limit: hashes only"
                              if readable else "no input could be read")
    docs: list[InputDoc] = []
    for x in inputs:
        rel = f"{COPIES_DIR}/{Path(x.path).relative_to(root).as_posix()}" if copy and sizes[x.path] is not None \
            else None
        digest = _copy_hashed(x.path, run_dir / rel) if rel else sha256(x.path)
        if rel and digest is None:
            rel = None
        d = InputDoc(path=x.path, sha256=digest, role=x.role, copy=rel)
        if x.used:
            d["used"] = x.used
        if x.flow is not None and x.arg is not None:
            d["flow"], d["arg"] = x.flow, x.arg
        docs.append(d)
    return docs, CopiesDoc(kept=copy, dir=COPIES_DIR if copy else None, root=root, total_bytes=total,
                           limit_bytes=limit_bytes, note=note)


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size if os.path.isfile(path) else None
    except OSError:
        return None


def _copy_hashed(src: str, dst: Path) -> str | None:
    h = hashlib.sha256()
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as f, open(dst, "wb") as g:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
                g.write(chunk)
        shutil.copymode(src, dst)    # a program payload stays executable
    except OSError as e:
        log.warning("could not copy input %s into the bundle: %s", src, e)
        return None
    return h.hexdigest()


@dataclass(frozen=True)
class Change:
    """An input whose file differs from its manifest entry."""

    path: str
    role: str
    old: str | None
    new: str | None      # None: gone

    def text(self) -> str:
        what = "gone" if self.new is None else f"sha256 {_short(self.old)} -> {_short(self.new)}"
        return f"{self.path} ({self.role}): {what}"


def _short(h: str | None) -> str:
    return h[:12] if h else "none"


def changed_originals(manifest: dict[str, Any], *, missing: bool = True) -> list[Change]:
    """Inputs whose file at the recorded path no longer has the recorded SHA-256 (missing: gone ones too)."""
    out = []
    for i in manifest.get("inputs") or []:
        now = sha256(i["path"])
        if now != i.get("sha256") and (missing or now is not None):
            out.append(Change(i["path"], str(i.get("role") or "input"), i.get("sha256"), now))
    return out


def bad_copies(manifest: dict[str, Any], run_dir: Path) -> list[Change]:
    """The bundle's copies that do not match their manifest entry (the bundle was changed or damaged)."""
    out = []
    for i in manifest.get("inputs") or []:
        rel = i.get("copy")
        if not rel:
            continue
        p = copy_path(run_dir, rel)
        now = sha256(p) if p is not None else None
        if now != i.get("sha256"):
            out.append(Change(f"{run_dir}/{rel}", str(i.get("role") or "input"), i.get("sha256"), now))
    return out


def copy_path(run_dir: Path, rel: str) -> Path | None:
    """rel inside the bundle's inputs/ folder, or None when it would lead out of it (a crafted manifest)."""
    base = (run_dir / COPIES_DIR).resolve()
    p = (run_dir / rel).resolve()
    return p if p.is_relative_to(base) else None


def has_copies(manifest: dict[str, Any]) -> bool:
    c = manifest.get("copies")
    return isinstance(c, dict) and bool(c.get("kept")) and all(i.get("copy") for i in manifest.get("inputs") or [])


def copied(manifest: dict[str, Any], run_dir: Path, original: str) -> Path | None:
    """The bundle's copy of the input recorded at `original`, if it kept one."""
    for i in manifest.get("inputs") or []:
        if i.get("path") == original and i.get("copy"):
            return copy_path(run_dir, i["copy"])
    return None


def programs_from_copies(sc: Scenario, manifest: dict[str, Any], run_dir: Path) -> Scenario:
    """sc with each exec flow's program argument pointing at the bundle's copy of the program it ran."""
    swap: dict[tuple[str, int], str] = {}
    for i in manifest.get("inputs") or []:
        if i.get("role") == "program" and i.get("copy") and isinstance(i.get("arg"), int):
            p = copy_path(run_dir, i["copy"])
            if p is not None:
                swap[(str(i.get("flow")), i["arg"])] = str(p)
    if not swap:
        return sc
    traffic = []
    for t in sc.traffic:
        cmd = list(t.options.get("cmd") or ())
        new = [swap.get((t.name, k), a) for k, a in enumerate(cmd)]
        traffic.append(replace(t, options={**t.options, "cmd": tuple(new)}) if new != cmd else t)
    return replace(sc, traffic=tuple(traffic))

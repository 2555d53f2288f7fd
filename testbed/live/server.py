"""The live view's HTTP server: the page's own files, one server-sent-events stream per tab, actions.

Every request carries the run's token (a query parameter for the page, its files and the stream, which
EventSource cannot give headers; a header for actions, which a cross-site form cannot set), compared in
constant time; anything else gets 403. Only the files listed at start are served (a name is looked up,
never joined to a path). Bound to 127.0.0.1 unless told otherwise. uvicorn runs in a thread of its own
with its own event loop, so the run's thread never waits for a tab.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from ..errors import TestbedError, UsageError
from .feed import Feed
from .replay import ReplayFeed

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
TOKEN_HEADER = "x-testbed-token"
POLL_S = 0.2              # how often a stream looks for a new batch
MAX_BODY = 4096           # an action is a few fields
TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".md": "text/plain",
         ".LICENSE": "text/plain"}
# cytoscape.js adds one fixed <style> element of its own: allowed by its hash, no other inline style
CYTOSCAPE_STYLE = "'sha256-pgvDUBa4IjFA2yuSJ2cqcyxmNYJMborsd0ORcRv9vw8='"
CSP = (f"default-src 'none'; script-src 'self'; style-src 'self' {CYTOSCAPE_STYLE}; img-src 'self' data:; "
       "connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-store", "X-Frame-Options": "DENY"}

Action = Callable[[dict[str, Any]], str]


def static_files(root: Path = STATIC) -> dict[str, Path]:
    """The page's files by the name the page asks for ("app.js", "vendor/uPlot.iife.min.js"): nothing else."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.name != "index.html":
            out[p.relative_to(root).as_posix()] = p
    return out


def parse_listen(addr: str | None) -> tuple[str, int]:
    """"127.0.0.1", "0.0.0.0:8080", "[::1]:8080", ":8080" -> (host, port); port 0: any free one."""
    if not addr:
        return "127.0.0.1", 0
    host, port = addr, "0"
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        port = rest.lstrip(":") or "0"
    elif addr.count(":") == 1:
        host, port = addr.split(":")
    host = host or "127.0.0.1"
    try:
        ipaddress.ip_address(host)
        n = int(port)
    except ValueError:
        raise UsageError(f"--live-listen {addr}: give an address and an optional port, e.g. 127.0.0.1:8080 "
                         "or 0.0.0.0") from None
    if not 0 <= n <= 65535:
        raise UsageError(f"--live-listen {addr}: port {n} is out of range")
    return host, n


def is_loopback(host: str) -> bool:
    return ipaddress.ip_address(host).is_loopback


class LiveServer:
    """Serve a feed on host:port until stop(); `url` carries the token."""

    def __init__(self, feed: Feed, *, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 act: Action | None = None):
        self.feed = feed
        self.token = token or secrets.token_urlsafe(24)
        self.act = act
        self.files = static_files()
        self.index = (STATIC / "index.html").read_text()
        self.host = host
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
            self.sock.listen(128)     # connections wait in the backlog until uvicorn takes them
        except OSError as e:
            self.sock.close()
            raise UsageError(f"the live view cannot listen on {host}:{port}: {e.strerror or e}") from None
        self.port = self.sock.getsockname()[1]
        self.app = Starlette(routes=[
            Route("/", self.page), Route("/static/{name:path}", self.static), Route("/api/snapshot", self.snapshot),
            Route("/api/stream", self.stream), Route("/api/link", self.link), Route("/api/frame", self.frame),
            Route("/api/action", self.action, methods=["POST"])])
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.requests = 0

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"http://{host}:{self.port}/?token={self.token}"

    def start(self) -> LiveServer:
        import uvicorn
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.sock]},
                                        name="live-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True      # open streams would otherwise hold it
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sock.close()

    # ---- requests

    def _allowed(self, request: Request, header_only: bool = False) -> bool:
        given = request.headers.get(TOKEN_HEADER) or ("" if header_only else request.query_params.get("token", ""))
        return secrets.compare_digest(given.encode(), self.token.encode())

    def _guard(self, request: Request, header_only: bool = False) -> Response | None:
        self.requests += 1
        if not self._allowed(request, header_only):
            return PlainTextResponse("forbidden: this page needs the token printed with its URL\n", 403,
                                     headers=HEADERS)
        return None

    async def page(self, request: Request) -> Response:
        if (no := self._guard(request)) is not None:
            return no
        html = self.index.replace("{{TOKEN}}", self.token).replace("{{MODE}}", self.feed.model.mode)
        return Response(html, media_type="text/html", headers=HEADERS)

    async def static(self, request: Request) -> Response:
        if (no := self._guard(request)) is not None:
            return no
        path = self.files.get(request.path_params["name"])
        if path is None:
            return PlainTextResponse("not found\n", 404, headers=HEADERS)
        return Response(path.read_bytes(), media_type=TYPES.get(path.suffix, "application/octet-stream"),
                        headers=HEADERS)

    async def snapshot(self, request: Request) -> Response:
        if (no := self._guard(request)) is not None:
            return no
        seq, snap = self.feed.snapshot()
        return JSONResponse(dict(snap, seq=seq, read_only=self.feed.read_only or self.act is None), headers=HEADERS)

    async def link(self, request: Request) -> Response:
        if (no := self._guard(request)) is not None:
            return no
        hist = self.feed.link_history(request.query_params.get("id", ""))
        if hist is None:
            return JSONResponse({"error": "no such link"}, 404, headers=HEADERS)
        return JSONResponse({"history": hist}, headers=HEADERS)

    async def frame(self, request: Request) -> Response:
        if (no := self._guard(request)) is not None:
            return no
        if not isinstance(self.feed, ReplayFeed):
            return JSONResponse({"error": "a running network has no frames: it is live"}, 404, headers=HEADERS)
        try:
            t = float(request.query_params.get("t", "0"))
        except ValueError:
            return JSONResponse({"error": "t must be a number of seconds"}, 400, headers=HEADERS)
        feed = self.feed
        snap = await asyncio.get_running_loop().run_in_executor(None, feed.frame, t)
        return JSONResponse(snap, headers=HEADERS)

    async def stream(self, request: Request) -> Response:
        if (no := self._guard(request)) is not None:
            return no
        return StreamingResponse(self._events(request), media_type="text/event-stream",
                                 headers=dict(HEADERS, **{"X-Accel-Buffering": "no"}))

    async def _events(self, request: Request) -> Any:
        seq, snap = self.feed.snapshot()
        yield _sse("snapshot", dict(snap, seq=seq, read_only=self.feed.read_only or self.act is None))
        while not await request.is_disconnected():
            await asyncio.sleep(POLL_S)
            batches = self.feed.since(seq)
            if batches is None:         # fell too far behind: start over from a snapshot
                seq, snap = self.feed.snapshot()
                yield _sse("snapshot", dict(snap, seq=seq, read_only=self.feed.read_only or self.act is None))
                continue
            for s, b in batches:
                seq = s
                yield _sse("changes", dict(b, seq=s))

    async def action(self, request: Request) -> Response:
        # the token in a header only: a page on another site can make a browser POST a form, never set a header
        if (no := self._guard(request, header_only=True)) is not None:
            return no
        if self.act is None or self.feed.read_only:
            return JSONResponse({"error": "this view is read-only (a finished run)"}, 409, headers=HEADERS)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send the action as application/json"}, 415, headers=HEADERS)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "the action is too large"}, 413, headers=HEADERS)
        try:
            action = json.loads(body)
            if not isinstance(action, dict):
                raise ValueError("an action is a JSON object")
        except ValueError as e:
            return JSONResponse({"error": f"not a JSON object: {e}"}, 400, headers=HEADERS)
        act = self.act
        try:
            label = await asyncio.get_running_loop().run_in_executor(None, act, action)
        except TestbedError as e:
            return JSONResponse({"error": str(e)}, 400, headers=HEADERS)
        log.info("live action: %s", label)
        return JSONResponse({"ok": True, "label": label}, headers=HEADERS)


def _sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


"""The live view's server, over real HTTP on loopback: the token on every request, nothing served but the
page's own files, the security headers, the stream's snapshot then changes, and actions."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testbed.errors import UsageError
from testbed.live.feed import Feed
from testbed.live.model import LiveModel
from testbed.live.server import LiveServer, parse_listen
from testbed.topology.load import load_topology

TINY = Path(__file__).parent / "fixtures" / "scenario" / "tiny.yaml"


def get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None,
        method: str | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


@pytest.fixture
def served() -> Iterator[tuple[LiveServer, list[dict[str, Any]]]]:
    feed = Feed(LiveModel(load_topology(TINY), name="tiny", duration_s=5.0, mode="live"), read_only=False)
    acted: list[dict[str, Any]] = []

    def act(action: dict[str, Any]) -> str:
        if action.get("op") == "bad":
            raise UsageError("unknown action 'bad'")
        acted.append(action)
        return "link-down r1--r2"
    server = LiveServer(feed, act=act).start()
    try:
        yield server, acted
    finally:
        server.stop()


def base(s: LiveServer) -> str:
    return f"http://127.0.0.1:{s.port}"


def test_it_binds_loopback_and_prints_a_url_with_a_long_random_token(served: tuple[LiveServer, list]) -> None:
    s, _ = served
    assert s.sock.getsockname()[0] == "127.0.0.1"
    assert s.url == f"http://127.0.0.1:{s.port}/?token={s.token}" and len(s.token) >= 32
    assert LiveServer(s.feed).token != s.token


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/snapshot", "/api/stream", "/api/link?id=r1--r2"])
def test_without_the_right_token_every_path_is_403(served: tuple[LiveServer, list], path: str) -> None:
    s, _ = served
    assert get(base(s) + path)[0] == 403
    sep = "&" if "?" in path else "?"
    wrong = s.token[:-1] + ("y" if s.token.endswith("x") else "x")    # one character off, never the token itself
    assert get(base(s) + path + sep + "token=" + wrong)[0] == 403
    assert get(base(s) + path, headers={"X-Testbed-Token": "nope"})[0] == 403


def test_the_page_and_its_files_are_served_with_the_security_headers(served: tuple[LiveServer, list]) -> None:
    s, _ = served
    code, headers, body = get(s.url)
    assert code == 200 and b"app.js?token=" + s.token.encode() in body and b"<script>" not in body
    csp = headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "connect-src 'self'" in csp and headers["referrer-policy"] == "no-referrer"
    code, headers, body = get(f"{base(s)}/static/vendor/cytoscape.min.js?token={s.token}")
    assert code == 200 and headers["content-type"].startswith("text/javascript") and len(body) > 100_000


@pytest.mark.parametrize("name", ["../server.py", "..%2fserver.py", "%2e%2e/server.py", "vendor/../../server.py",
                                  "/etc/passwd", "..%2f..%2f..%2fpyproject.toml", "index.html", "vendor"])
def test_nothing_outside_the_pages_own_files_is_served(served: tuple[LiveServer, list], name: str) -> None:
    s, _ = served
    code, _, body = get(f"{base(s)}/static/{name}?token={s.token}")
    assert code == 404 and b"import" not in body and b"root:" not in body


def test_the_stream_starts_with_a_snapshot_then_sends_changes(served: tuple[LiveServer, list]) -> None:
    s, _ = served
    with urllib.request.urlopen(f"{base(s)}/api/stream?token={s.token}", timeout=5) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.readline() == b"event: snapshot\n"
        snap = json.loads(r.readline().removeprefix(b"data: "))
        assert {n["id"] for n in snap["nodes"]} == {"h1", "r1", "r2", "h2"} and snap["read_only"] is False
        r.readline()
        with s.feed.lock:
            s.feed.model.apply_event({"seq": 0, "kind": "link-down", "label": "link-down r1--r2", "t_s": 1.0,
                                      "links": ["r1--r2"], "nodes": [], "closes": None, "ok": True,
                                      "revert": False})
        s.feed.cut()
        assert r.readline() == b"event: changes\n"
        ch = json.loads(r.readline().removeprefix(b"data: "))
        link = next(c for c in ch["changes"] if c["type"] == "link")
        assert link["id"] == "r1--r2" and link["up"] is False


def test_actions_need_the_token_in_a_header_and_json(served: tuple[LiveServer, list]) -> None:
    s, acted = served
    url = f"{base(s)}/api/action"
    body = json.dumps({"op": "cut", "link": "r1--r2"}).encode()
    # the token in the query or a cookie is not enough: a form on another site could send those
    assert get(url + f"?token={s.token}", {"Content-Type": "application/json"}, body, "POST")[0] == 403
    assert get(url, {"X-Testbed-Token": s.token, "Content-Type": "text/plain"}, body, "POST")[0] == 415
    code, _, out = get(url, {"X-Testbed-Token": s.token, "Content-Type": "application/json"}, body, "POST")
    assert code == 200 and json.loads(out) == {"ok": True, "label": "link-down r1--r2"}
    assert acted == [{"op": "cut", "link": "r1--r2"}]
    code, _, out = get(url, {"X-Testbed-Token": s.token, "Content-Type": "application/json"},
                       b'{"op": "bad"}', "POST")
    assert code == 400 and json.loads(out)["error"] == "unknown action 'bad'"


def test_a_finished_run_is_read_only(served: tuple[LiveServer, list]) -> None:
    s, acted = served
    s.feed.read_only = True
    code, _, out = get(f"{base(s)}/api/action", {"X-Testbed-Token": s.token, "Content-Type": "application/json"},
                       b'{"op": "cut", "link": "r1--r2"}', "POST")
    assert code == 409 and "read-only" in json.loads(out)["error"] and acted == []


def test_listen_addresses() -> None:
    assert parse_listen(None) == ("127.0.0.1", 0)
    assert parse_listen("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    assert parse_listen(":8081") == ("127.0.0.1", 8081)
    with pytest.raises(UsageError, match="give an address"):
        parse_listen("example.com:80")


def test_a_taken_port_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        feed = Feed(LiveModel(load_topology(TINY), name="tiny", duration_s=5.0, mode="live"), read_only=True)
        with pytest.raises(UsageError, match=f"cannot listen on 127.0.0.1:{port}"):
            LiveServer(feed, port=port)

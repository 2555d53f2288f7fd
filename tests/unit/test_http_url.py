"""http flows against the user's own server (url, port + path, method, body) and wait_for, as a user writes
them: what the loader accepts and refuses, and what each request records (pure)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.errors import InputError
from testbed.scenario.load import load_scenario
from testbed.traffic.exec_ import exit_expected
from testbed.traffic.http import parse_downloads, target_url
from testbed.traffic.httpget import main as httpget_main
from testbed.traffic.metrics import METRIC_UNITS, panels, series_unit, value_range

TOPO = Path(__file__).parent / "fixtures" / "scenario" / "bloat-topo.yaml"


def _load(tmp_path: Path, traffic: str) -> object:
    f = tmp_path / "s.yaml"
    f.write_text(f"name: s\ntopology: {TOPO}\nduration: 10s\ntraffic:\n{traffic}")
    return load_scenario(f)


def _problems(tmp_path: Path, traffic: str) -> str:
    with pytest.raises(InputError) as ei:
        _load(tmp_path, traffic)
    return str(ei.value)


def test_url_flow_needs_no_to_and_keeps_method_and_body(tmp_path: Path) -> None:
    sc = _load(tmp_path, "  - {name: web, kind: http, from: home, url: 'http://server:8000/index.html',"
                         " method: POST, body_size: 10KB, interval: 500ms}\n")
    web = sc.flow("web")  # type: ignore[attr-defined]
    assert (web.src, web.dst) == ("home", None)
    assert (web.options["url"], web.options["method"], web.options["body_size"]) == \
        ("http://server:8000/index.html", "POST", 10_000)
    assert target_url(web.options, None, 5201) == "http://server:8000/index.html"


def test_port_and_path_ask_the_users_server_on_to(tmp_path: Path) -> None:
    sc = _load(tmp_path, "  - {name: web, kind: http, from: home, to: server, port: 8000, path: /a.html}\n")
    web = sc.flow("web")  # type: ignore[attr-defined]
    assert target_url(web.options, "10.0.0.1", 8000) == "http://10.0.0.1:8000/a.html"
    own = _load(tmp_path, "  - {name: web, kind: http, from: home, to: server}\n").flow("web")  # type: ignore[attr-defined]
    assert target_url(own.options, "10.0.0.1", 5201) is None       # testbed serves its own object


def test_loader_refuses_what_cannot_be_asked(tmp_path: Path) -> None:
    msg = _problems(tmp_path, "  - {name: a, kind: http, from: home, url: 'ftp://server/x'}\n"
                              "  - {name: b, kind: http, from: home}\n"
                              "  - {name: c, kind: http, from: home, to: server, path: /x}\n"
                              "  - {name: d, kind: http, from: home, to: server, method: POST}\n"
                              "  - {name: e, kind: http, from: home, url: 'http://server/', to: server}\n"
                              "  - {name: f, kind: http, from: home, url: 'http://server/', body_size: 1KB}\n"
                              "  - {name: g, kind: http, from: home, url: 'http://server/', method: PUT}\n")
    assert "expected a URL like http://server:8000/index.html" in msg
    assert 'an http flow needs "to"' in msg and '"url" (your own server)' in msg
    assert '"path" is a page of your own server on "to": give its "port" too' in msg
    assert "testbed's own server answers GET and HEAD only" in msg
    assert '"url" names your own server: leave out "to"' in msg
    assert '"body_size" is sent with each POST: set "method: POST"' in msg
    assert 'unknown value "PUT"' in msg


def test_wait_for_one_or_several_ports_with_a_timeout(tmp_path: Path) -> None:
    sc = _load(tmp_path, "  - {name: web, kind: http, from: home, url: 'http://server:8000/',\n"
                         "     wait_for: {node: server, port: 8000, timeout: 3s}}\n"
                         "  - {name: run, kind: exec, node: home, cmd: [sleep, '1'],\n"
                         "     wait_for: [{node: server, port: 80}, {node: home, port: 22}]}\n")
    web, run = sc.flow("web"), sc.flow("run")  # type: ignore[attr-defined]
    assert [(w.node, w.port, w.timeout_s) for w in web.wait_for] == [("server", 8000, 3.0)]
    assert [(w.node, w.port, w.timeout_s) for w in run.wait_for] == [("server", 80, 10.0), ("home", 22, 10.0)]


def test_wait_for_problems_are_located_and_named(tmp_path: Path) -> None:
    msg = _problems(tmp_path, "  - {name: run, kind: exec, node: home, cmd: [sleep, '1'],\n"
                              "     wait_for: {node: srever, port: 0, timeout: 20min, when: now}}\n"
                              "  - {name: run2, kind: exec, node: home, cmd: [sleep, '1'], wait_for: {port: 80}}\n")
    assert 'unknown node "srever" (did you mean "server"?)' in msg
    assert 'traffic[0].wait_for.port: expected a port number 1-65535, got "0"' in msg
    assert "traffic[0].wait_for.timeout: at most 600s, got 1200s" in msg
    assert 'unknown key in wait_for "when"; known: node, port, timeout' in msg
    assert 'wait_for needs "node"' in msg


def _line(seq: int, start: float, first: float | None, end: float, status: int | None, nbytes: int,
          error: str | None = None) -> str:
    ns = 1_000_000_000
    return json.dumps({"seq": seq, "start_ns": int(start * ns), "first_ns": None if first is None else int(first * ns),
                       "end_ns": int(end * ns), "bytes": nbytes, "status": status, "error": error})


def test_each_request_records_status_ttfb_and_total_time() -> None:
    text = "\n".join([_line(0, 100.0, 100.05, 100.25, 200, 500),
                      _line(1, 101.0, 101.01, 101.02, 504, 19, "HTTP Error 504: Gateway Timeout"),
                      _line(2, 102.0, None, 105.0, None, 0, "TimeoutError: timed out")])
    p = parse_downloads(text, t0_wall=99.0, size=None)
    s = p["series"]
    assert [v for _, v in s["status"]] == [200.0, 504.0, 0.0]
    assert [t for t, _ in s["status"]] == pytest.approx([1.0, 2.0, 3.0])
    assert [v for _, v in s["ttfb"]] == pytest.approx([0.05, 0.01])          # no response: no ttfb
    assert [v for _, v in s["total_time"]] == pytest.approx([0.25, 0.02, 3.0])
    assert [v for _, v in s["failed"]] == [0.0, 1.0, 1.0]
    assert [v for _, v in s["fetch_time"]] == pytest.approx([0.25])
    assert p["summary"] == {"downloads": 3, "completed": 1, "statuses": [0, 200, 504],
                            "fetch_time_mean_s": pytest.approx(0.25)}
    # testbed's own object: a short body is a failed download whatever its status
    assert [v for _, v in parse_downloads(_line(0, 1, 1.1, 2, 200, 10), 0.0, 1000)["series"]["failed"]] == [1.0]


def test_the_metric_table_declares_them_with_units_and_panels() -> None:
    assert (METRIC_UNITS["status"], METRIC_UNITS["ttfb"], METRIC_UNITS["total_time"]) == ("number", "s", "s")
    assert series_unit("ttfb") == ("ms", 1e3)
    assert panels("http")["ttfb"] == "time to first byte" and "status" in panels("http")
    assert set(panels("exec")) == {"exit_code", "runtime"}          # plotted like any other metric
    assert value_range("runtime") == (0.0, None) and value_range("failed") == (0.0, 1.0)


def test_httpget_against_a_refused_port_writes_one_line_per_request(capsys: pytest.CaptureFixture[str]) -> None:
    assert httpget_main(["http://127.0.0.1:9/", "--interval", "0", "--until", "0.05", "--timeout", "1"]) == 0
    recs = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert recs and recs[0]["status"] is None and recs[0]["first_ns"] is None
    assert recs[0]["error"].startswith("URLError")


def test_exit_expected_takes_a_number_or_a_list() -> None:
    assert exit_expected(0, 0) and not exit_expected(22, 0)
    assert exit_expected(3, [0, 3]) and not exit_expected(1, [0, 3])


def test_a_request_after_the_flows_end_is_not_the_flows() -> None:
    text = "\n".join([_line(0, 10.0, 10.01, 10.02, 200, 5), _line(1, 12.1, None, 12.11, None, 0, "URLError: refused")])
    p = parse_downloads(text, t0_wall=0.0, size=None, until=12.0)
    assert [v for _, v in p["series"]["status"]] == [200.0] and p["summary"]["statuses"] == [200]

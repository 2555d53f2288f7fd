"""The pytest plugin, tested with pytester: fixtures bring real networks up; capability gating."""

from pathlib import Path

ROOT = Path(__file__).parents[2]

TOPO = """
name: plugin-pair
nodes: {a: {kind: host}, r: {kind: router}, b: {kind: host}}
links:
  - {endpoints: [a, r], delay: 10ms}
  - {endpoints: [r, b], delay: 5ms}
"""


def test_testbed_up_fixture_brings_up_and_tears_down(pytester):
    pytester.makefile(".yaml", pair=TOPO)
    pytester.makepyfile(test_net="""
        def test_rtt(testbed_up):
            tb = testbed_up("pair.yaml")
            r = tb.ping("a", "b", count=3)
            assert r.received == 3
            rtts = sorted(r.rtts_ms)
            assert 29.0 <= rtts[1] <= 33.0, r
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_no_privilege_fails_under_ci_and_skips_otherwise(pytester, monkeypatch):
    pytester.makefile(".yaml", pair=TOPO)
    pytester.makeconftest("""
        import os
        import testbed.probe as probe
        probe.os.geteuid = lambda: 1000
    """)
    pytester.makepyfile(test_net="""
        import pytest

        @pytest.mark.emulation
        def test_marked():
            pass

        def test_fixture(testbed_up):
            testbed_up("pair.yaml")
    """)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["*emulation needs root*CI=true: failing instead of skipping*"])
    monkeypatch.setenv("CI", "false")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*emulation needs root*"])


def test_broken_expectation_fails_with_measured_value(pytester):
    scenario = ROOT / "examples" / "village-cache" / "scenarios" / "fiber-cut-too-strict.py"
    pytester.makepyfile(test_strict=f"""
        def test_strict(run_scenario):
            run_scenario({str(scenario)!r}).assert_expectations()
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--junitxml=junit.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*1 of 5 expectations of scenario village-cache-too-strict failed*",
                                 "*cached.runtime < 1ms: measured *ms (1 samples)*"])
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="cached.runtime &lt; 1ms"' in junit and 'name="results"' in junit


def test_ctrl_c_tears_the_networks_down(tmp_path):
    """SIGINT to pytest's process group mid-test: the session stops (exit 2), every network goes."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from testbed.emulation.clean import leftovers
    (tmp_path / "pair.yaml").write_text(TOPO)
    (tmp_path / "test_net.py").write_text(
        "import time\n\n"
        "def test_hold(testbed_up):\n"
        "    tb = testbed_up('pair.yaml')\n"
        "    tb.node('b').popen(['sleep', '300'])\n"
        "    print('RUN', tb.run_id, flush=True)\n"
        "    time.sleep(120)\n\n"
        "def test_never_reached():\n"
        "    pass\n")
    p = subprocess.Popen([sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", "test_net.py"],
                         cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         start_new_session=True)
    rid, seen, deadline = None, "", time.monotonic() + 60
    while rid is None:
        line = p.stdout.readline()
        assert line and time.monotonic() < deadline, seen
        seen += line
        if "RUN " in line:
            rid = line.split("RUN ", 1)[1].split()[0]
    os.killpg(p.pid, signal.SIGINT)          # a terminal's Ctrl-C: the whole foreground group
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 2, seen + out     # pytest's "interrupted"
    assert "KeyboardInterrupt" in out and "test_never_reached" not in out
    assert leftovers(rid) == []

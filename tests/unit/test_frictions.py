"""Small frictions: did-you-mean finds a link named from its other end and a case slip (which spelling
 distance misses); a summary formats a value the same way in both directions."""

from testbed.errors import did_you_mean, unknown


def test_a_reversed_link_name() -> None:
    known = ["internet--mithi-pop", "mithi-pop--tower-islamkot", "mithi-pop--tower-virawah"]
    assert did_you_mean("mithi-pop--internet", known) == ' (did you mean "internet--mithi-pop"?)'


def test_a_case_slip() -> None:
    assert did_you_mean("school-A", ["school-b", "school-a", "school-c"]) == ' (did you mean "school-a"?)'
    assert unknown("node", "School-A", ["school-a", "school-b"]).startswith(
        'unknown node "School-A" (did you mean "school-a"?)')


def test_a_typo_still_found_and_nonsense_not() -> None:
    assert did_you_mean("scool-a", ["school-a", "clinic"]) == ' (did you mean "school-a"?)'
    assert did_you_mean("zzz", ["school-a", "clinic"]) == ""


def test_the_way_back_is_formatted_like_the_way_there() -> None:
    from testbed.cli.run_cmd import _fmt
    assert (_fmt("loss", 0.005266), _fmt("loss_back", 0.00632)) == ("0.5266%", "0.632%")
    assert _fmt("delay_mean_s_back", 0.0213) == _fmt("delay_mean_s", 0.0213) == "21.3ms"


def test_the_mos_panels_labels_do_not_overlap(monkeypatch) -> None:
    from pathlib import Path

    from testbed.report import plots
    from testbed.report.bundle import Flow, RunData, Series
    figs = []
    monkeypatch.setattr(plots, "to_png_b64", lambda fig: figs.append(fig) or "")
    t = [float(i) for i in range(10)]
    call = Flow("call", "voip", other={m: Series(t, [4.2] * 10) for m in ("mos", "mos_back", "loss", "loss_back")})
    plots.other_metrics_figure([("run", RunData(Path("."), flows=[call]))])
    (fig,) = figs
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    renderer = FigureCanvasAgg(fig).get_renderer()
    boxes = [ax.yaxis.label.get_window_extent(renderer) for ax in fig.axes]
    texts = [ax.yaxis.label.get_text().replace(chr(10), ' ') for ax in fig.axes]
    assert 'MOS (1 bad – 5 excellent)' in texts and 'MOS, the way back (1 bad – 5 excellent)' in texts
    for ax, box in zip(fig.axes, boxes, strict=True):
        assert box.height <= ax.get_window_extent(renderer).height, ax.yaxis.label.get_text()
    for a, b in zip(boxes, boxes[1:], strict=False):
        assert a.y0 >= b.y1, "two y labels overlap"


def test_log_lines_go_where_sys_stderr_points_now(monkeypatch) -> None:
    """rich's progress bar swaps sys.stderr for a proxy that prints above the bar; a handler that kept the
    start-up stderr wrote under the bar and left a copy of it (the progress printed twice under tmux)."""
    import io
    import logging

    from testbed.cli import CurrentStderr
    handler = CurrentStderr()
    log = logging.getLogger("test_frictions.stderr")
    log.addHandler(handler)
    log.propagate = False
    try:
        proxy = io.StringIO()
        monkeypatch.setattr("sys.stderr", proxy)      # as rich's Live does while a bar shows
        log.warning("during the bar")
        assert proxy.getvalue() == "during the bar\n"
    finally:
        log.removeHandler(handler)

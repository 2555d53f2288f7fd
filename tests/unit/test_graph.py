"""testbed graph and profiles: pictures and listings a person can use."""

import subprocess
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pytest

from testbed.topology.load import load_topology
from testbed.viz.topomap import draw_topology, layout

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "topologies").glob("*.yaml"))
FIX = Path(__file__).parent / "fixtures" / "topologies" / "valid"


@pytest.mark.parametrize("path", EXAMPLES + [FIX / "everything.yaml"], ids=lambda p: p.name)
def test_graph_png_has_content(path, tmp_path):
    out = tmp_path / "map.png"
    draw_topology(load_topology(path), out, highlight={load_topology(path).links[0].name})
    img = mpimg.imread(out)
    assert img.shape[0] > 400 and img.shape[1] > 600
    assert img[..., :3].std() > 0.05  # not a blank page


def test_geographic_layout_keeps_site_order():
    topo = load_topology(FIX / "everything.yaml")
    pos, geo = layout(topo)
    assert geo
    assert pos["tower"][1] > pos["core"][1]  # tower lies north of core
    assert len({(round(x, 6), round(y, 6)) for x, y in pos.values()}) == len(pos)  # no two nodes stacked


def test_graph_cli_svg(tmp_path):
    out = tmp_path / "map.svg"
    r = subprocess.run([sys.executable, "-m", "testbed.cli", "graph", str(FIX / "everything.yaml"), "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "<svg" in out.read_text()[:500] and "tower" in out.read_text()


def test_graph_cli_unknown_format(tmp_path):
    r = subprocess.run([sys.executable, "-m", "testbed.cli", "graph", str(FIX / "everything.yaml"), "-o",
                        str(tmp_path / "map.gif")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "name it .png, .svg or .pdf" in r.stderr


def test_profiles_cli_lists_and_explains():
    r = subprocess.run([sys.executable, "-m", "testbed.cli", "profiles", "geo-vsat"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0
    assert "3Mbit, 300ms" in r.stdout and "20Mbit, 300ms" in r.stdout and "APNIC" in r.stdout
    r = subprocess.run([sys.executable, "-m", "testbed.cli", "profiles", "geo-vsta"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and 'did you mean "geo-vsat"' in r.stderr

"""Fixtures for the village cache: origin content, the cache on the tower, a fetch helper."""

import json
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
TESTBED_TOPOLOGY = "topology.yaml"


class Village:
    """The running network with the origin server and the cache started on it."""

    def __init__(self, tb, workdir: Path):
        self.tb = tb
        content = workdir / "content"
        content.mkdir()
        (content / "video.bin").write_bytes(bytes(range(256)) * 4096)      # 1 MiB
        (content / "page.html").write_bytes(b"<html>hello village</html>")
        (content / "news.bin").write_bytes(b"n" * 1024 * 1024)
        origin = tb.address_of("origin")
        tb.node("origin").popen([sys.executable, "-m", "http.server", "8000", "--bind", origin,
                                 "--directory", str(content)])
        self.cache_url = f"http://{tb.address_of('tower')}:8080"
        tb.node("tower").popen([sys.executable, str(HERE / "cache.py"), "--origin", f"http://{origin}:8000",
                                "--cache-dir", str(workdir / "cache"), "--origin-timeout", "2"])
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.fetch("/page.html")["status"] == 200:
                return
            time.sleep(0.3)
        raise RuntimeError("the cache or the origin did not come up")

    def fetch(self, path: str, timeout_s: float = 30) -> dict:
        cp = self.tb.node("home-1").cmd([sys.executable, str(HERE / "fetch.py"), self.cache_url + path,
                                         str(timeout_s)], timeout=timeout_s + 10)
        return json.loads(cp.stdout)


@pytest.fixture
def village(testbed_up, tmp_path):
    tb = testbed_up(HERE / TESTBED_TOPOLOGY)
    return Village(tb, tmp_path)

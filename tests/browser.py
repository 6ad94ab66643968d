"""Headless Chromium (Debian's `chromium`, installed by scripts/setup.sh) for the report checks.

The browser runs with every network path closed: host names resolve to nothing and any request goes
to a dead local proxy, so a page that needs the internet to draw its charts fails the check.
`--virtual-time-budget` lets the page's scripts (vega-embed) run to completion before the DOM is
dumped or the screenshot taken.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

from system import require_tool

ROOT = Path(__file__).resolve().parents[1]

NO_NETWORK = [
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> str:
    """Path of the chromium binary; a clear failure (not a skip) naming the install command when missing."""
    return require_tool("chromium", "chromium", "chromium-browser", "google-chrome")


def artifacts_dir() -> Path:
    """Where screenshots go: $W2S_ARTIFACTS, else tests/artifacts/ (git-ignored)."""
    path = Path(os.environ.get("W2S_ARTIFACTS", ROOT / "tests" / "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(page: Path, *args: str, budget_ms: int = 20_000, timeout: float = 180) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="w2s-chromium-") as profile:
        cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               f"--user-data-dir={profile}", *NO_NETWORK, f"--virtual-time-budget={budget_ms}", *args,
               page.resolve().as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def dump_dom(page: Path, budget_ms: int = 20_000) -> str:
    """The page's DOM after its scripts ran."""
    done = _run(page, "--dump-dom", budget_ms=budget_ms)
    assert done.returncode == 0 and "<html" in done.stdout, f"chromium --dump-dom failed:\n{done.stderr[-3000:]}"
    return done.stdout


def screenshot(page: Path, out: Path, width: int = 1200, height: int = 6000, budget_ms: int = 20_000) -> Path:
    """A PNG of the page after its scripts ran."""
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _run(page, f"--screenshot={out.resolve()}", f"--window-size={width},{height}",
                "--hide-scrollbars", budget_ms=budget_ms)
    assert done.returncode == 0 and out.is_file(), f"chromium --screenshot failed:\n{done.stderr[-3000:]}"
    return out


class ChartCensus(HTMLParser):
    """Counts the report's chart containers (div.w2s-chart) and those holding a drawn <svg> or <canvas>,
    and collects external script/link/img sources."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[dict[str, object]] = []
        self._stack: list[int | None] = []  # chart index per open element (None outside charts)
        self.external: list[str] = []
        self.body: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for key in ("src", "href"):
            if a.get(key, "").startswith(("http://", "https://", "//")) and tag in ("script", "link", "img"):
                self.external.append(a[key])
        if tag == "body":
            self.body = a
        current = self._stack[-1] if self._stack else None
        if tag == "div" and "w2s-chart" in a.get("class", "").split():
            self.charts.append({"id": a.get("id", ""), "title": a.get("data-title", ""), "drawn": False,
                                "marks": 0})
            current = len(self.charts) - 1
        if current is not None and tag in ("svg", "canvas"):
            self.charts[current]["drawn"] = True
        if current is not None and tag == "path":
            self.charts[current]["marks"] = int(self.charts[current]["marks"]) + 1  # type: ignore[call-overload]
        if tag not in ("br", "img", "meta", "link", "input", "hr", "area", "base", "col", "source"):
            self._stack.append(current)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "img", "meta", "link", "input", "hr", "area", "base", "col", "source"):
            self._stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if self._stack and tag not in ("br", "img", "meta", "link", "input", "hr", "area", "base", "col", "source"):
            self._stack.pop()


def census(dom: str) -> ChartCensus:
    parser = ChartCensus()
    parser.feed(dom)
    return parser

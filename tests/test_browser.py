"""Real-browser tests: Debian's Chromium driven by Playwright against `streamlit run app.py`.

They never skip: a missing browser is a failure (``.ci/run`` installs ``chromium`` under CI=true).
"""

import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest
from pagetools import SMALL_LINKS

pytestmark = pytest.mark.browser
ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
EXCEPTION = '[data-testid="stException"]'
CHART = '[data-testid="stPlotlyChart"] .js-plotly-plot >> visible=true'


def _lab_pages() -> list[pathlib.Path]:
    return sorted((ROOT / "pages").glob("[0-9]*_*.py"), key=lambda p: int(p.stem.split("_", 1)[0]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    env = dict(os.environ, LML_WORKERS="2")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.headless",
            "true",
            "--server.address",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("streamlit did not start") from None
            time.sleep(0.3)
    yield url
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is required for the browser tests (apt-get install chromium)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield pg
        browser.close()


def _settle(pg, seconds=1.5):
    """Wait until Streamlit's running indicator has gone (or a short while)."""
    pg.wait_for_timeout(seconds * 1000)
    pg.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)


def test_deep_link_on_a_fresh_server_gets_the_app_shell(server, page):
    # the very first session of the server opens a lab page directly: the navigation must be app.py's
    page.goto(f"{server}/Playground?steps=20&width=16")
    page.locator(CHART).first.wait_for(timeout=120_000)
    nav = page.locator('[data-testid="stSidebarNav"] a')
    assert any(nav.nth(i).inner_text().strip().endswith("Home") for i in range(nav.count()))


def test_home_loads_and_navigation_reaches_every_page(server, page):
    page.goto(server + "/")
    page.wait_for_selector('[data-testid="stSidebarNav"] a', timeout=60_000)
    page.wait_for_selector("h1", timeout=30_000)
    assert "Learning Mechanics Lab" in page.locator("h1").first.inner_text()
    assert page.locator(EXCEPTION).count() == 0
    assert "Traceback" not in page.content()
    links = page.locator('[data-testid="stSidebarNav"] a')
    titles = [links.nth(i).inner_text().strip() for i in range(links.count())]
    expected = [p.stem.split("_", 1)[1].replace("_", " ") for p in _lab_pages()]
    assert all(any(t.endswith(e) for t in titles) for e in expected), (titles, expected)
    for name in expected[:2]:
        page.locator('[data-testid="stSidebarNav"] a', has_text=name).click()
        page.wait_for_url(f"**/{name.replace(' ', '_')}", timeout=30_000)
        page.wait_for_selector("h1", timeout=60_000)
        assert page.locator(EXCEPTION).count() == 0


@pytest.mark.parametrize("path", _lab_pages(), ids=lambda p: p.stem)
def test_page_draws_a_chart_and_a_slider_moves_it(server, page, path):
    url_path = path.stem.split("_", 1)[1]
    page.goto(f"{server}/{url_path}?{urllib.parse.urlencode(SMALL_LINKS.get(path.stem, {}))}")
    page.locator(CHART).first.wait_for(timeout=180_000)  # the first visible figure (live partials count)
    assert page.locator(EXCEPTION).count() == 0
    sliders = '[data-testid="stSidebar"] [data-testid="stSlider"] input[type="range"] >> visible=true'
    slider = page.locator(sliders).first
    before = page.url
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.wait_for_timeout(1500)
    page.locator(CHART).first.wait_for(timeout=180_000)
    assert page.locator(EXCEPTION).count() == 0
    page.wait_for_function("(u) => window.location.href !== u", arg=before, timeout=60_000)
    assert page.url != before  # the moved slider is now part of the shareable link


def test_presentation_mode_renders(server, page):
    page.goto(f"{server}/Playground?present=1&steps=20&width=16")
    page.locator(CHART).first.wait_for(timeout=120_000)
    assert page.locator(EXCEPTION).count() == 0
    # the larger type arrives with the page's first script run (it may wait behind other pages' jobs)
    page.wait_for_function("() => getComputedStyle(document.documentElement).fontSize === '20px'", timeout=120_000)
    box = page.locator('[data-testid="stSidebar"]').bounding_box()
    assert box is None or box["x"] + box["width"] <= 0  # the sidebar starts collapsed
    assert page.get_by_text("Data and reproduce in Python").count() == 0

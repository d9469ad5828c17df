"""The dashboard: its static routes, and the page in headless Chromium (Playwright) against
the live edge, fed by the synthetic market.

Browser tests skip only when Chromium or Playwright is missing (``just test-deps``
installs Debian's chromium; Playwright comes from PyPI and never downloads a browser).
Waits are DOM conditions with time-outs. Playwright evaluates ``wait_for_function``
predicates as strings, which the page's CSP (``script-src 'self'``) forbids, so those pages
bypass CSP; the library-missing test runs under the real CSP and uses selector waits only.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from actors import subjects
from actors.feeds.market import FeedMessage
from actors.products import DEFAULT_PRODUCTS
from edge.errors import EdgeError, handle_error
from edge.routes import web
from tests.edge.conftest import Edge, EdgeFactory
from tests.feeding import START_NS, STEP_NS, market, session

try:
    from playwright.async_api import Browser, Page, ViewportSize, async_playwright
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None  # type: ignore[assignment]

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 20_000
VIEWPORT: ViewportSize = {"width": 1600, "height": 1000}
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
PASSWORD = "Quiet-Lantern-4821"

needs_browser = pytest.mark.skipif(
    async_playwright is None or CHROMIUM is None,
    reason="the browser tests need Playwright (pip install playwright) and Debian's chromium "
    "(apt-get install chromium, or `just test-deps`)",
)


# ---------------------------------------------------------------- static routes (no NATS)


@pytest.fixture
async def static_client() -> AsyncIterator[httpx.AsyncClient]:
    handlers: dict[Any, Any] = {EdgeError: handle_error, HTTPException: handle_error}
    app = Starlette(routes=web.routes, exception_handlers=handlers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        yield client


async def test_the_page_and_its_modules_are_served_with_content_types_and_cache_headers(
    static_client: httpx.AsyncClient,
) -> None:
    page = await static_client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/static/app.js">' in page.text
    for name, kind in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        r = await static_client.get(f"/static/{name}")
        assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        again = await static_client.get(
            f"/static/{name}", headers={"If-None-Match": r.headers["etag"]}
        )
        assert again.status_code == 304 and again.content == b""


async def test_vendored_libraries_come_from_node_modules_and_may_be_cached(
    static_client: httpx.AsyncClient,
) -> None:
    if not any((d / "uplot").is_dir() for d in web._node_modules_dirs()):
        pytest.skip("npm install has not been run")
    for name in ("socket.io.min.js", "uPlot.iife.min.js", "uPlot.min.css"):
        r = await static_client.get(f"/static/vendor/{name}")
        assert r.status_code == 200, name
        assert r.headers["cache-control"] == f"public, max-age={web.VENDOR_MAX_AGE_S}"
        assert len(r.content) > 1000


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/static/%2e%2e/routes/web.py", 400),
        ("/static/..%2Froutes%2Fweb.py", 400),
        ("/static/.hidden.js", 400),
        ("/static/a%5C..%5Capp.js", 400),
        ("/static/%00.js", 400),
        ("/static/vendor/..%2F..%2Fpackage.json", 400),
        ("/static/", 404),
        ("/static/missing.js", 404),
        ("/static/app.py", 404),
        ("/static/vendor/socket.io.js", 404),
        ("/static/vendor/uplot/dist/uPlot.esm.js", 404),
    ],
)
async def test_bad_static_paths_answer_json_errors(
    static_client: httpx.AsyncClient, path: str, status: int
) -> None:
    r = await static_client.get(path)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"] == ("bad_request" if status == 400 else "not_found")


# ---------------------------------------------------------------- browser


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    assert async_playwright is not None and CHROMIUM is not None
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def _page(browser: Browser, *, bypass_csp: bool = True) -> Page:
    context = await browser.new_context(viewport=VIEWPORT, bypass_csp=bypass_csp)
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    return page


async def _wait(page: Page, predicate: str, arg: object = None) -> Any:
    handle = await page.wait_for_function(predicate, arg=arg, timeout=WAIT_MS)
    return await handle.json_value()


async def _choose(page: Page, product: str) -> str:
    """Pick ``product`` and its second expiry (the first is the default); returns it."""
    await _wait(page, "p => document.querySelector(`#product option[value='${p}']`)", product)
    await page.select_option("#product", product)
    expiries = await page.eval_on_selector_all("#expiry option", "os => os.map(o => o.value)")
    await page.select_option("#expiry", expiries[1])
    return str(expiries[1])


_CHAIN_SHOWN = """e => {
  const t = document.getElementById('chain');
  const rows = t.querySelectorAll('tbody tr').length;
  const smile = Number(document.getElementById('smile').dataset.points);
  return t.dataset.expiry === e && rows > 0 && smile > 0 ? {rows, smile} : null;
}"""


@needs_browser
async def test_the_dashboard_shows_the_chain_and_charts_and_updates_live(
    fed_edge: Edge, browser: Browser
) -> None:
    page = await _page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(fed_edge.url + "/")
    expiry = await _choose(page, "NIFTY")
    shown = await _wait(page, _CHAIN_SHOWN, expiry)

    async with fed_edge.client() as c:
        chain = (await c.get(f"/api/data/chain/NIFTY?expiry={expiry}")).json()
        summary = (await c.get(f"/api/analytics/summary/NIFTY?expiry={expiry}")).json()
    assert shown["rows"] == chain["n_strikes"]
    atm = await page.get_attribute("#chain tbody tr.atm", "data-strike")
    assert atm is not None and float(atm) == summary["atm_strike"]
    await _wait(page, "() => document.querySelector('#tile-atm-iv .value').textContent !== '—'")
    assert await page.text_content("#tile-atm-iv .value") == f"{summary['atm_iv'] * 100:.2f}%"
    await _wait(
        page,
        "() => ['oi', 'term', 'pcr'].every(id => +document.getElementById(id).dataset.points)",
    )
    assert int(await page.get_attribute("#term", "data-points") or 0) == 3  # three expiries
    assert await page.text_content("#conn-text") == "live"
    assert await page.is_hidden("#login")

    before = await page.evaluate(
        "() => ({seq: Number(document.getElementById('chain').dataset.seq),"
        " spot: document.querySelector('#tile-spot .value').textContent})"
    )
    m = market()
    session(m, 4)  # the fixture's market, replayed to where it stopped
    more = [msg for i in range(5, 11) for msg in m.step(START_NS + i * STEP_NS)]
    await fed_edge.feed_messages(more)
    await _wait(
        page,
        """b => Number(document.getElementById('chain').dataset.seq) > b.seq
               && document.querySelector('#tile-spot .value').textContent !== b.spot""",
        before,
    )

    # A dropped connection reconnects by itself (a new Socket.IO session) and subscribes again.
    sid = await page.evaluate("() => window.deltastream.live.socket.id")
    await page.evaluate("() => window.deltastream.live.socket.io.engine.close()")
    await _wait(
        page,
        "sid => { const s = window.deltastream.live.socket; return s.connected && s.id !== sid; }",
        sid,
    )
    seq = await page.get_attribute("#chain", "data-seq")
    await fed_edge.feed_messages(
        [msg for i in range(11, 15) for msg in m.step(START_NS + i * STEP_NS)]
    )
    await _wait(
        page, "s => Number(document.getElementById('chain').dataset.seq) > s", int(seq or 0)
    )
    assert await page.text_content("#conn-text") == "live"

    flashed = await page.eval_on_selector_all(
        "#chain td.up-a, #chain td.up-b, #chain td.down-a, #chain td.down-b",
        "cells => cells.length",
    )
    assert flashed > 0
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
    assert errors == []


@needs_browser
async def test_the_dashboard_opens_on_the_nearest_live_expiry_and_marks_settled_ones(
    fed_edge: Edge, browser: Browser
) -> None:
    m = market()
    session(m, 4)  # the fixture's market
    first, second = (c.expiry for c in m.chains["NIFTY"][:2])
    # the feed's clock reaches the first expiry's instant: it is settled, not yet retired
    tick = {"ts": DEFAULT_PRODUCTS["NIFTY"].expires_ns(first), "product": "NIFTY", "price": 1.0}
    await fed_edge.feed_messages([FeedMessage(subjects.feed_underlying("NIFTY"), tick)])
    page = await _page(browser)
    await page.goto(fed_edge.url + "/")
    await _wait(page, "e => document.getElementById('expiry').value === e", second.isoformat())
    options = await page.eval_on_selector_all("#expiry option", "os => os.map(o => o.text)")
    assert options[0].startswith(first.isoformat()) and options[0].endswith(" · settled")
    assert not any(o.endswith("settled") for o in options[1:]), options


@needs_browser
async def test_the_login_form_appears_when_auth_is_required_and_data_follows_login(
    edge_factory: EdgeFactory, browser: Browser
) -> None:
    edge = await edge_factory(auth_required=True)
    await edge.feed(steps=2)
    page = await _page(browser)
    await page.goto(edge.url + "/")
    await _wait(page, "() => !document.getElementById('login').hidden")
    assert await page.text_content("#conn-text") == "sign-in required"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-login.png"))
    async with edge.client() as c:
        r = await c.post("/api/auth/register", json={"username": "trader", "password": PASSWORD})
    assert r.status_code == 201, r.text

    await page.fill("#login-user", "trader")
    await page.fill("#login-pass", PASSWORD)
    await page.click("#login-submit")
    await _wait(page, "() => document.getElementById('login').hidden")
    await _choose(page, "NIFTY")
    await _wait(page, "() => document.querySelectorAll('#chain tbody tr').length > 0")
    await _wait(page, "() => document.getElementById('conn-text').textContent === 'live'")
    assert await page.text_content("#user-name") == "trader"
    token = await page.evaluate("() => sessionStorage.getItem('deltastream.token')")
    async with edge.client() as c:
        me = await c.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "trader"


@needs_browser
async def test_without_the_npm_libraries_the_page_says_so_and_shows_a_rest_snapshot(
    fed_edge: Edge, browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web, "_node_modules_dirs", lambda: [tmp_path / "node_modules"])
    async with fed_edge.client() as c:
        lib = await c.get("/static/vendor/socket.io.min.js")
        health = await c.get("/health")
        index = await c.get("/")
    assert lib.status_code == 404 and "npm install" in lib.json()["detail"]
    assert health.status_code == 200 and index.status_code == 200

    page = await _page(browser, bypass_csp=False)  # the real CSP: app.js must still run
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    await page.goto(fed_edge.url + "/#NIFTY")
    notice = page.locator("#notice-libs")
    await notice.wait_for(state="visible")
    text = await notice.text_content() or ""
    assert "not installed" in text and "npm install" in text and "socket.io-client" in text
    await page.locator("#chain tbody tr.atm").wait_for()  # the REST snapshot
    assert await page.text_content("#conn-text") == "snapshot only"
    assert "Charts are off" in (await page.text_content("#smile") or "")
    assert not [m for m in console if "Content Security Policy" in m]
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-no-libraries.png"))


@needs_browser
async def test_the_html_subscribe_example_prints_live_summaries(
    fed_edge: Edge, browser: Browser
) -> None:
    page = await _page(browser)
    example = (ROOT / "examples" / "subscribe-example.html").as_uri()
    await page.goto(f"{example}?url={fed_edge.url}&product=nifty")
    text = await _wait(
        page,
        """() => {
          const t = document.getElementById('log').textContent;
          return t.includes('chain_summary NIFTY') && t.includes('"ok":true') ? t : null;
        }""",
    )
    assert "subscribe ack" in text and "atm_iv=" in text
    assert (await page.text_content("#status") or "").startswith("connected")

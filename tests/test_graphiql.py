"""GraphiQL works without internet: its page and assets come from the package, and a real
browser runs the film-page query in it.

The browser is Debian's `chromium` (FILMGRAPH_CHROMIUM names another binary), driven by
Playwright. FILMGRAPH_SCREENSHOT=/tmp/graphiql.png keeps a screenshot of the page with its
answer, to look at after changing the page or updating GraphiQL."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, Request, async_playwright, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from graph.graphiql import ASSETS, load_assets
from tests.conftest import LiveServer

ROOT = Path(__file__).parent.parent
FILM_PAGE = (ROOT / "examples" / "film-page.graphql").read_text()
VARIABLES = {"slug": "refusenik-2007", "region": "US"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# What a user waits for at most: the page, GraphiQL's start and one query on the demo data.
DEADLINE_MS = 30_000

# As root in a container: no sandbox (it needs user namespaces), no GPU, and none of the
# browser's own traffic (updates, sync, field trials) that would leave loopback.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def page_assets(html: str) -> list[str]:
    """The URLs of the scripts and stylesheets a page loads, as written in it."""
    return re.findall(r'<(?:script|link rel="stylesheet")[^>]* (?:src|href)="([^"]+)"', html)


async def test_page_loads_only_vendored_assets(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "connect-src 'self';" in policy
    assert "<script>" not in response.text, "an inline script would need 'unsafe-inline'"
    paths = set()
    for src in page_assets(response.text):
        url = urlsplit(urljoin(str(response.url), src))
        assert url.netloc == urlsplit(str(response.url)).netloc, src
        paths.add(url.path)
    # Every script and stylesheet of the package, and nothing else.
    assert paths == {f"/graphiql/static/{name}" for name in load_assets()}


async def test_assets_are_served_with_types_and_cache_headers(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers={"accept": "text/html"})
    for src in page_assets(page.text):
        response = await client.get(urljoin(str(page.url), src))
        assert response.status_code == 200, src
        kind = "text/javascript" if src.endswith(".js") else "text/css"
        assert response.headers["content-type"] == f"{kind}; charset=utf-8", src
        assert response.headers["x-content-type-options"] == "nosniff"
        vendored = re.search(r"/[a-z-]+-\d+\.\d+\.\d+/", src) is not None
        expected = "public, max-age=31536000, immutable" if vendored else "no-cache"
        assert response.headers["cache-control"] == expected, src
        again = await client.get(
            urljoin(str(page.url), src), headers={"if-none-match": response.headers["etag"]}
        )
        assert again.status_code == 304, src
        assert again.content == b""


async def test_only_scripts_and_stylesheets_are_served(client: httpx.AsyncClient) -> None:
    for path in (
        "graphiql-4.1.2/LICENSE",
        "README.md",
        "page.html",
        "../../graphiql.py",
        "%2e%2e/%2e%2e/graphiql.py",
        "missing.js",
    ):
        response = await client.get(f"/graphiql/static/{path}")
        assert response.status_code == 404, path
        # As any path nothing is served at (graph/unrouted.py), not a plain "Not Found".
        assert response.json()["error"]["code"] == "NOT_FOUND", path


def test_each_vendored_package_keeps_its_licence() -> None:
    readme = (ASSETS / "README.md").read_text()
    folders = [p for p in ASSETS.iterdir() if p.is_dir()]
    assert len(folders) == 4, folders
    for folder in folders:
        assert (folder / "LICENSE").read_text().startswith("MIT License"), folder
        assert f"`{folder.name}/`" in readme, f"README.md does not describe {folder.name}"
    for path in ASSETS.rglob("*"):
        if path.suffix in (".js", ".css", ".html"):
            assert not re.search(r"""(src|href)=["']?https?:""", path.read_text()), path


def off_loopback(urls: list[str]) -> list[str]:
    """The URLs that name a host other than this machine (data: URLs are not requests)."""
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in ("data", "blob")
        and urlsplit(url).hostname not in LOOPBACK_HOSTS
    ]


async def run_film_page(page: Page) -> None:
    """Enter the film-page query and its variables in GraphiQL, run it, and wait (within the
    deadline) for Refusenik in the result pane."""
    await page.locator(".graphiql-query-editor .CodeMirror").click(timeout=DEADLINE_MS)
    await page.keyboard.press("Control+A")
    # Inserted as text, not typed key by key: the editor would close each bracket twice.
    await page.keyboard.insert_text(FILM_PAGE)
    await page.get_by_role("button", name="Variables").click()
    await page.locator(".graphiql-editor-tool .CodeMirror").first.click()
    await page.keyboard.press("Control+A")
    await page.keyboard.insert_text(json.dumps(VARIABLES))
    await page.get_by_role("button", name="Execute query (Ctrl-Enter)").click()

    response = page.locator(".graphiql-response")
    await expect(response).to_contain_text('"title": "Refusenik"', timeout=DEADLINE_MS)
    await expect(response).to_contain_text('"name": "Laura Bialis"')
    if os.environ.get("FILMGRAPH_SCREENSHOT"):
        await page.screenshot(path=os.environ["FILMGRAPH_SCREENSHOT"])


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    chromium = os.environ.get("FILMGRAPH_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        pytest.fail(
            "chromium is not installed: the GraphiQL tests need a real browser. Install it "
            "with `apt-get install chromium` (.ci/run does so on a fresh machine) or point "
            "FILMGRAPH_CHROMIUM at a Chromium binary."
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def test_graphiql_runs_the_film_page_offline(browser: Browser, live: LiveServer) -> None:
    # A fresh profile (Playwright's own temporary one): nothing cached from an earlier run.
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    requested: list[str] = []
    problems: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    context.on("request", record)
    # Any request that would leave loopback is recorded above and never sent.
    await context.route(
        re.compile(r"^(?!https?://(127\.0\.0\.1|localhost|\[::1\])[:/])"),
        lambda route: route.abort(),
    )
    page = await context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        await page.goto(f"{live.url}/graphql", timeout=DEADLINE_MS)
        await run_film_page(page)
    except PlaywrightTimeoutError as exc:
        away = off_loopback(requested)
        pytest.fail(f"{exc.message}\nrequests off loopback: {away}\nerrors: {problems}")
    finally:
        await context.close()

    assert off_loopback(requested) == []
    assert any(url.endswith("/graphiql/static/graphiql-4.1.2/graphiql.min.js") for url in requested)
    assert problems == [], problems

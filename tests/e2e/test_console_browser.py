"""The console in headless Chromium against a running stack (sidecar + OpenSearch + console).

`tests/e2e/conftest.py` starts that stack for the session (or uses the one named by
`E2E_SIDECAR_URL` and `E2E_CONSOLE_URL`) and provides Debian's `chromium`. Screenshots go
to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TIMEOUT_MS = 60_000
# True once some loaded picture in the search columns has more than one colour: a product
# photo, not the console's flat grey placeholder (what it shows when the image route fails).
# Same-origin media, so the canvas can be read back.
REAL_IMAGE_JS = """
() => [...document.querySelectorAll("[data-testid='stImageContainer'] img")].some((img) => {
  if (!img.complete || img.naturalWidth === 0) return false;
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 4; i < pixels.length; i += 4) {
    if (pixels[i] !== pixels[0] || pixels[i + 1] !== pixels[1] || pixels[i + 2] !== pixels[2]) {
      return true;
    }
  }
  return false;
})
"""


@pytest.fixture(scope="module")
def urls() -> tuple[str, str]:
    sidecar = os.environ.get("E2E_SIDECAR_URL")
    console = os.environ.get("E2E_CONSOLE_URL")
    if not sidecar or not console:
        pytest.skip("set E2E_SIDECAR_URL and E2E_CONSOLE_URL to a running sidecar and console")
    ready = httpx.get(f"{sidecar.rstrip('/')}/readyz", timeout=10)
    assert ready.status_code == 200, f"sidecar not ready: {ready.text}"
    return sidecar.rstrip("/"), console.rstrip("/")


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser: Browser, urls: tuple[str, str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def _open(page: Page, console: str, path: str) -> None:
    page.goto(f"{console}/{path}")
    page.get_by_text("Ready ·").wait_for()


def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _fill_area(page: Page, label: str, text: str) -> None:
    area = page.get_by_label(label)
    area.fill(text)
    area.press("Control+Enter")  # commits a text area without waiting for blur


def test_single_analysis(page: Page, urls: tuple[str, str]) -> None:
    _open(page, urls[1], "single")  # every page opens directly at its URL
    _fill_area(page, "Query text", "running shoes")
    _fill_area(page, "Document text", "Lightweight running shoes for men. Breathable mesh.")
    page.get_by_role("button", name="Score").click()
    page.get_by_text("What drove the score").wait_for()
    page.locator("mark").first.wait_for()  # at least one highlighted fragment
    score = page.get_by_test_id("stMetricValue").inner_text()
    assert 0.0 <= float(score) <= 1.0 and len(score.split(".")[1]) == 3
    _shot(page, "single_analysis")


def test_batch_rerank(page: Page, urls: tuple[str, str]) -> None:
    _open(page, urls[1], "batch")
    query = page.get_by_label("Query")
    query.fill("running shoes")
    query.press("Enter")
    documents = ["Coffee mug", "Lightweight running shoes for men", "Running socks"]
    _fill_area(page, "Documents, one per line (at most 50)", "\n".join(documents))
    page.get_by_role("button", name="Rerank").click()
    page.get_by_role("button", name="Download CSV").wait_for()
    page.get_by_test_id("stDataFrame").wait_for()
    _shot(page, "batch_rerank")


def test_search_preview(page: Page, urls: tuple[str, str]) -> None:
    _open(page, urls[1], "search")
    query = page.get_by_label("Storefront query")
    query.fill(os.environ.get("E2E_SEARCH_QUERY", "running shoes"))
    query.press("Enter")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("heading", name="Reranked").wait_for()
    page.get_by_role("heading", name="OpenSearch order").wait_for()
    # The reranked run always says what happened: reranked, partially, or not (and why).
    page.get_by_text(re.compile(r"^(Reranked:|Partially reranked:|Not reranked)")).wait_for()
    # One picture (or placeholder) per hit in each column.
    page.locator("[data-testid='stImageContainer'] img").nth(1).wait_for()
    # At least one real product picture, served by the sidecar's catalog-images route.
    page.wait_for_function(REAL_IMAGE_JS, timeout=TIMEOUT_MS)
    _shot(page, "search_preview")


def test_search_preview_link_shows_hidden_hits_greyed(page: Page, urls: tuple[str, str]) -> None:
    # A shared preview link searches at once. The shipped rules hide the recalled backpack
    # p0170 on every query; it is OpenSearch's 2nd hit for this one, so it is listed greyed.
    _open(page, urls[1], "search?q=leather+knapsack")
    page.get_by_text("Removed by rules").wait_for()
    hidden = page.locator(".lychee-removed", has_text="p0170")
    hidden.wait_for()
    assert "removed by rule hide-recalled-backpack" in hidden.inner_text()
    assert hidden.evaluate("el => getComputedStyle(el).color") == "rgb(138, 138, 138)"
    hidden.scroll_into_view_if_needed()  # the page scrolls inside Streamlit's main container
    _shot(page, "search_preview_removed")

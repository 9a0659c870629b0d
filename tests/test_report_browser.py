"""The smoke run's report as a reader sees it, in a real headless Chromium driven by Playwright: every image
loads, every link resolves to an existing file or anchor, the console stays free of errors, and the page fits
a phone's and a desktop's width without scrolling sideways. Without a browser the tests are skipped, saying how
to install one; with ADVREPRO_REQUIRE_BROWSER=1 (CI) they fail instead."""

import os
import shutil
from pathlib import Path
from typing import NamedTuple
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.workflow

WIDTHS = {"phone": 390, "desktop": 1280}
# Without these, Chromium waits on the network that a closed machine does not have.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INSTALL = "install Chromium (apt-get install chromium) and Playwright (pip install -e '.[test]')"

# Elements that reach past the right edge of the viewport with no ancestor that scrolls or clips them.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const contained = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement)
      if (getComputedStyle(a).overflowX !== "visible") return true;
    return false;
  };
  return [...document.body.querySelectorAll("*")]
    .filter(el => el.getBoundingClientRect().right > width + 1 && !contained(el))
    .map(el => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className ? "." + el.className : ""}`
               + ` (right edge ${Math.round(el.getBoundingClientRect().right)} px)`);
}"""


def _missing_browser() -> str | None:
    """What is missing to drive Chromium, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed"
    if not shutil.which("chromium"):
        return "no chromium on PATH"
    return None


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's, on PATH) driven by Playwright, with a fresh profile."""
    missing = _missing_browser()
    if missing:
        message = f"{missing}: {INSTALL}"
        if os.environ.get("ADVREPRO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"ADVREPRO_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def report(browser, smoke_run) -> Path:
    """index.html of the smoke run (the browser is checked first, so a missing one skips before the run)."""
    workdir, _ = smoke_run
    return workdir / "results/report/index.html"


class Loaded(NamedTuple):
    page: object  # playwright's Page
    problems: list[str]  # what went wrong while loading: console errors, page errors, failed requests


@pytest.fixture(scope="session", params=list(WIDTHS))
def loaded(request, browser, report) -> Loaded:
    """The report loaded on a phone (mobile emulation: the page's viewport meta tag counts) or a desktop, every
    <details> opened as a curious reader would."""
    page = browser.new_page(viewport={"width": WIDTHS[request.param], "height": 900},
                            is_mobile=request.param == "phone")
    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(f"console: {message.text}"))
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} ({req.failure})"))
    page.goto(report.as_uri(), wait_until="load")
    page.eval_on_selector_all("details", "all => all.forEach(d => d.open = true)")
    yield Loaded(page, problems)
    page.close()


def test_every_image_loads(loaded):
    images = loaded.page.eval_on_selector_all("img", "all => all.map(i => [i.getAttribute('src'), i.naturalWidth])")
    assert images, "the report shows no image"
    assert [src for src, width in images if not width] == []


def test_every_link_resolves_to_an_existing_file_or_anchor(loaded, report):
    hrefs = loaded.page.eval_on_selector_all("a[href]", "all => all.map(a => [a.getAttribute('href'), a.href])")
    assert hrefs, "the report has no link"
    broken = []
    for written, resolved in hrefs:
        url = urlsplit(resolved)
        target = Path(unquote(url.path))
        if url.scheme != "file" or not target.is_file():
            broken.append(f"{written}: no such file in the report")
        elif url.fragment and target == report and not loaded.page.query_selector(f"[id='{url.fragment}']"):
            broken.append(f"{written}: no element with this id")
    assert broken == []


def test_the_console_stays_free_of_errors(loaded):
    assert loaded.problems == []


def test_the_page_is_laid_out_at_the_screens_width(loaded):
    assert loaded.page.evaluate("window.innerWidth") == loaded.page.viewport_size["width"], "no <meta name=viewport>?"


def test_the_page_does_not_scroll_sideways(loaded):
    width, scroll_width = loaded.page.evaluate("[document.documentElement.clientWidth, document.documentElement.scrollWidth]")
    assert scroll_width <= width, f"{scroll_width} px wide in a {width} px window: {loaded.page.evaluate(OVERFLOWING)[:8]}"

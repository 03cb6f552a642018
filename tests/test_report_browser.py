"""A real browser opens the report from disk with networking off and renders it whole.

Headless Chromium (Debian's, installed by .ci/setup) is driven by Playwright.
The test records every request and console message, takes a screenshot, and
checks the figures decoded and the tables rendered.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from diversity.report import build_report
from tests.conftest import experiment_rows, write_jsonl

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (bash .ci/setup installs it)")


def test_report_renders_offline_with_no_errors_and_no_requests(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    log = write_jsonl(tmp_path / "hostile.jsonl", experiment_rows(hostile=True))
    page_path = build_report(log, embedder="hashing", progress=False, collapsed_prompts=6).to_html(tmp_path / "r.html")
    requests, console, page_errors = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        try:
            context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: page_errors.append(str(e)))
            page.on("dialog", lambda d: page_errors.append(f"dialog opened: {d.message}"))
            page.goto(page_path.as_uri(), wait_until="load")
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
            headline_rows = page.locator("#headline-table tbody tr").count()
            prompt_headings = page.locator(".rd-prompt h3").all_inner_texts()
            scripts = page.locator("script").count()
        finally:
            browser.close()
    assert requests == [page_path.as_uri()], requests
    assert console == [] and page_errors == []
    assert len(images) == 3 and all(done and width > 300 for done, width in images), images
    assert headline_rows == 4  # two lineages × two phases
    assert any("<script>alert('x')</script>" in h for h in prompt_headings)  # shown as text
    assert scripts == 0
    assert (tmp_path / "report.png").stat().st_size > 50_000

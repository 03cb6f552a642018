"""A real browser opens the report from disk with networking off and uses it.

Headless Chromium (Debian's, installed by .ci/setup) is driven by Playwright.
Every test records each request, console message, page error and dialog, and
after every interaction checks that hostile log text stayed inert: no element
but the report's own kinds, no event-handler attribute, no script but the
page's data block and its one app script, no image but the inline figures.
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

import pytest

from diversity.report import build_report
from tests.conftest import HOSTILE, REPO, experiment_rows, write_jsonl

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (bash .ci/setup installs it)")

# Every element kind the report and its app create; hostile text would add <b>, <img>, <textarea>, <script>.
OWN_ELEMENTS = """html head meta title style body section div h1 h2 h3 h4 p span strong ul ol li br pre table thead
tbody tr th td details summary figure figcaption img label select option input button script
svg g line path circle rect text title""".split()

INERT = """(own) => {
  const wrong = [];
  for (const node of document.querySelectorAll("*")) {
    const tag = node.tagName.toLowerCase();
    if (!own.includes(tag)) wrong.push("element " + tag);
    for (const attribute of node.attributes) if (attribute.name.startsWith("on")) wrong.push("attribute " + attribute.name);
    if (tag === "img" && !node.getAttribute("src").startsWith("data:image/png;base64,")) wrong.push("img " + node.src);
  }
  const scripts = [...document.scripts].map((s) => s.hasAttribute("data-rd-app") ? "app" : s.type);
  const apps = document.querySelectorAll(".rd-app").length;
  if (scripts.length !== 2 * apps || scripts.filter((s) => s === "app").length !== apps) wrong.push("scripts " + scripts);
  return wrong;
}"""


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    log = write_jsonl(folder / "hostile.jsonl", experiment_rows(hostile=True))
    return build_report(log, embedder="hashing", progress=False, collapsed_prompts=6).to_html(folder / "r.html")


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()


class Visit:
    """One offline tab, recording what the page asks for and says."""

    def __init__(self, browser):
        self.context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.requests, self.problems = [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("dialog", lambda d: self.problems.append(f"dialog opened: {d.message}"))

    def open(self, path: Path):
        self.page.goto(path.as_uri(), wait_until="load")
        self.page.wait_for_selector("body[data-ready='1']", timeout=10_000)
        return self.page

    def assert_inert(self) -> None:
        assert self.page.evaluate(INERT, OWN_ELEMENTS) == []
        assert self.problems == []


@pytest.fixture
def visit(chromium):
    visit = Visit(chromium)
    yield visit
    visit.context.close()


def test_report_renders_offline_with_no_errors_and_no_requests(hostile_page: Path, visit, tmp_path: Path) -> None:
    page = visit.open(hostile_page)
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth])")
    headline_rows = page.locator("#headline-table tbody tr").count()
    prompt_headings = page.locator(".rd-prompt h3").all_inner_texts()
    policy = page.get_attribute("meta[http-equiv='Content-Security-Policy']", "content")
    assert visit.requests == [hostile_page.as_uri()], visit.requests
    visit.assert_inert()  # no console error, no dialog, the app's two scripts only
    assert len(images) == 3 and all(done and width > 300 for done, width in images), images
    assert headline_rows == 4  # two lineages × two phases
    assert any("<script>alert('x')</script>" in h for h in prompt_headings)  # shown as text
    assert policy.startswith("default-src 'none'") and "unsafe" not in policy and "script-src 'sha256-" in policy
    assert page.locator(".rd-chart svg").count() >= 3 and page.locator(".rd-groups tbody tr").count() == 25
    assert (tmp_path / "report.png").stat().st_size > 50_000


def test_filter_search_open_a_group_and_compare_lineages(hostile_page: Path, visit) -> None:
    from playwright.sync_api import expect

    page = visit.open(hostile_page)
    status = page.locator(".rd-status")
    assert status.inner_text() == "48 of 48 groups in the page match."

    page.select_option("[data-f=lineage]", "grpo")
    assert status.inner_text() == "24 of 48 groups in the page match."
    assert set(page.locator(".rd-groups tbody tr td:first-child").all_inner_texts()) == {"grpo"}
    visit.assert_inert()

    page.fill("[data-f=from]", "20")
    page.fill("[data-f=q]", "alpha")  # grpo collapses onto "alpha beta gamma" from step 20
    expect(status).to_have_text("8 of 48 groups in the page match.")
    page.locator(".rd-groups tbody tr").first.click()
    detail = page.locator("[data-rd=detail]")
    assert "grpo · phase 2 · step 20" in detail.locator("h3").inner_text()
    answers = detail.locator(".rd-answer")
    assert answers.count() == 1 and "×4" in answers.inner_text() and "alpha beta gamma" in answers.inner_text()
    assert "4 answers, 1 distinct" in detail.inner_text()
    visit.assert_inert()

    page.fill("[data-f=from]", "")
    page.fill("[data-f=q]", "bold")  # only the hostile prompt's groups hold "</textarea><b>bold</b>"
    expect(status).to_have_text("8 of 48 groups in the page match.")
    page.locator(".rd-groups tbody tr").first.click()
    texts = detail.locator(".rd-answer .rd-text").all_inner_texts()
    assert detail.locator(".rd-prompt-text").inner_text() == HOSTILE[0]
    assert sorted(texts) == sorted([HOSTILE[0], HOSTILE[1], HOSTILE[2], HOSTILE[3] + HOSTILE[4]])
    isolated = page.evaluate("[...document.querySelectorAll('[data-rd=detail] .rd-text')]"
                             ".every((e) => getComputedStyle(e).unicodeBidi === 'isolate')")
    assert isolated  # the right-to-left override cannot reorder the page around it
    visit.assert_inert()

    page.click("[data-action=compare]")
    columns = page.locator("[data-rd=compare] .rd-column")
    assert columns.count() == 2
    assert [columns.nth(i).get_attribute("data-lineage") for i in range(2)] == ["grpo", "repo_r"]
    assert "Same prompt at step 0 (eval) across lineages" in page.locator("[data-rd=compare] h3").inner_text()
    for i in range(2):
        assert columns.nth(i).locator(".rd-answer").count() == 4
        assert HOSTILE[1] in columns.nth(i).inner_text()
    visit.assert_inert()
    assert visit.requests == [hostile_page.as_uri()]


def test_chart_hover_shows_values_and_a_click_opens_the_step(hostile_page: Path, visit) -> None:
    page = visit.open(hostile_page)
    chart = page.locator("[data-chart=entropy] svg")
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] - 20, box["y"] + box["height"] / 2)
    tip = page.locator("[data-chart=entropy] .rd-tip")
    assert tip.is_visible() and "step 30" in tip.inner_text() and "grpo: 0.2" in tip.inner_text()
    page.mouse.click(box["x"] + box["width"] - 20, box["y"] + box["height"] / 2)
    assert page.locator("[data-rd=step] h3").inner_text() == "Step 30"
    assert page.input_value("[data-f=from]") == "30" and page.input_value("[data-f=to]") == "30"
    assert page.locator(".rd-status").inner_text() == "12 of 48 groups in the page match."

    chart.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    assert page.locator("[data-rd=step] h3").inner_text() == "Step 0"
    visit.assert_inert()


def test_two_reports_in_one_notebook_keep_apart(visit, tmp_path: Path) -> None:
    """The notebook fragment, inserted as JupyterLab inserts trusted HTML output: innerHTML, then
    each script re-created so it runs. Two of them share the page without clashing."""
    from dataclasses import replace

    report = build_report(write_jsonl(tmp_path / "log.jsonl", experiment_rows()), embedder="hashing", progress=False)
    fragments = [report._repr_html_(), replace(report, title="second")._repr_html_()]
    page = visit.page
    page.set_content("<!DOCTYPE html><html><head></head><body><div id='out0'></div><div id='out1'></div></body></html>")
    for i, fragment in enumerate(fragments):
        page.evaluate("""([html, id]) => {
            const host = document.getElementById(id);
            host.innerHTML = html;
            for (const old of host.querySelectorAll("script")) {
                const script = document.createElement("script");
                for (const attribute of old.attributes) script.setAttribute(attribute.name, attribute.value);
                script.textContent = old.textContent;
                old.replaceWith(script);
            }
        }""", [fragment, f"out{i}"])
    apps = page.locator(".rd-app[data-ready='1']")
    assert apps.count() == 2
    assert apps.nth(0).get_attribute("id") != apps.nth(1).get_attribute("id")
    apps.nth(0).locator("[data-f=lineage]").select_option("repo_r")
    assert apps.nth(0).locator(".rd-status").inner_text() == "24 of 48 groups in the page match."
    assert apps.nth(1).locator(".rd-status").inner_text() == "48 of 48 groups in the page match."
    apps.nth(1).locator(".rd-groups tbody tr").first.click()
    assert apps.nth(1).locator("[data-rd=detail]").is_visible()
    assert apps.nth(0).locator("[data-rd=detail]").is_hidden()
    visit.assert_inert()
    assert visit.requests == []


def test_the_shipped_experiment_report_is_small_and_interactive_within_two_seconds(chromium) -> None:
    """reports/experiment.html (benchmarks/bench_report_page.py rebuilds and times it)."""
    path = REPO / "reports" / "experiment.html"
    assert path.stat().st_size <= 5_000_000
    times = []
    for _ in range(3):
        visit = Visit(chromium)
        try:
            visit.open(path)
            times.append(float(visit.page.get_attribute(".rd-app", "data-ready-ms")))
            assert visit.requests == [path.as_uri()] and visit.problems == []
        finally:
            visit.context.close()
    assert statistics.median(times) < 2000, times

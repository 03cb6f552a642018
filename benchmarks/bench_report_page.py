"""The interactive report's size and time to interactive, on the shipped experiment.

    .venv/bin/python benchmarks/bench_report_page.py                          # time reports/experiment.html
    .venv/bin/python benchmarks/bench_report_page.py --rebuild reports/experiment.html

``--rebuild`` first writes the page the way the experiment command does
(``trainers/experiment.py`` ``summarise``), from what is published, without
training or re-embedding: entropy and eval reward of all seeds
(``training_metrics.parquet``, ``evaluations.parquet``), the eval groups'
scores of all seeds (``scores.parquet``), seed 0's run directories for the
answers and per-step summaries (``seed0/``), and the claims checked against
the seed's figures (``trainers/experiment_claims.py``). The headline and the
figures come out as the experiment command wrote them.

Then it opens the page in headless Chromium (Debian's, offline) several times
and prints its size and the time from navigation start to the app's ready
marker (``document.body.dataset.ready``; the app records ``data-ready-ms``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

EXPERIMENT = Path("data/experiment")
TITLE = "Continued training: GRPO vs REPO-R vs REPO-R with a raised target"


SOURCES = ("Entropy and eval reward: all seeds (data/experiment/training_metrics.parquet, evaluations.parquet). "
           "Diversity: all seeds' eval groups (scores.parquet). Answers and per-step summaries: seed 0's logs "
           "(data/experiment/seed0).")


def rebuild(out: Path) -> Path:
    from dataclasses import replace

    import polars as pl

    from diversity.analysis import analyse
    from diversity.report import build_report
    from trainers.experiment_claims import claims_text

    runs = sorted(p for p in (EXPERIMENT / "seed0").iterdir() if p.is_dir())
    analysis = analyse([*runs, EXPERIMENT / "scores.parquet"], score_logs=False, progress=False)
    metrics = pl.read_parquet(EXPERIMENT / "training_metrics.parquet")
    evaluations = pl.read_parquet(EXPERIMENT / "evaluations.parquet")
    analysis = replace(  # the tables analyse makes from run directories, for every seed's run
        analysis,
        entropy=metrics.select("lineage", "phase", "step", pl.col("entropy").cast(pl.Float64)).sort("lineage", "step"),
        evals=evaluations.select("lineage", "phase", "step", "task", "seed", reward="reward_mean")
        .sort("lineage", "step", "task"),
    )
    report = build_report(analysis, title=TITLE, findings=f"{SOURCES}\n\n{claims_text(EXPERIMENT)}")
    return report.to_html(out, force=True)


def time_to_interactive(page_path: Path, loads: int) -> list[float]:
    """Milliseconds from navigation start to the ready marker, one per fresh load."""
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        try:
            for _ in range(loads):
                context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
                page = context.new_page()
                page.goto(page_path.resolve().as_uri(), wait_until="commit")
                page.wait_for_selector("body[data-ready='1']", timeout=30_000)
                times.append(float(page.get_attribute(".rd-app", "data-ready-ms")))
                context.close()
        finally:
            browser.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", nargs="?", default="reports/experiment.html", help="the page to time")
    parser.add_argument("--rebuild", action="store_true", help="write the page from the published data first")
    parser.add_argument("--loads", type=int, default=5, help="fresh page loads to time (default 5)")
    args = parser.parse_args()
    page = Path(args.page)
    if args.rebuild:
        started = time.perf_counter()
        rebuild(page)
        print(f"rebuilt {page} in {time.perf_counter() - started:.1f} s")
    times = time_to_interactive(page, args.loads)
    print(f"{page}: {page.stat().st_size / 1e6:.2f} MB; time to interactive in headless Chromium: "
          f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms over {len(times)} loads")


if __name__ == "__main__":
    main()

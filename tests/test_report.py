"""The report: content computed right, every log string escaped, self-contained, written safely."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from diversity.report import build_report, headline_grid
from rollout_cli import main
from rollout_common.errors import OptionError
from tests.conftest import REPO, experiment_rows, write_jsonl


@pytest.fixture(scope="module")
def experiment_log(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("logs") / "experiment.jsonl", experiment_rows())


@pytest.fixture(scope="module")
def report(experiment_log: Path):
    """Built once: the tests below only read it."""
    return build_report(experiment_log, embedder="hashing", progress=False)


def test_headline_flags_collapse_and_reports_start_and_end(report) -> None:
    grid = headline_grid(report.headline)
    rows = {(r["lineage"], r["phase"]): r for r in grid["rows"]}
    assert rows[("grpo", "2")]["collapsed"] and not rows[("repo_r", "2")]["collapsed"]
    entropy = report.headline.filter((pl.col("lineage") == "grpo") & (pl.col("phase") == "2")
                                     & (pl.col("quantity") == "entropy (nats)")).row(0, named=True)
    assert (entropy["start"], entropy["end"]) == pytest.approx((1.0, 0.2))
    dup = report.headline.filter((pl.col("lineage") == "grpo") & (pl.col("phase") == "2")
                                 & (pl.col("quantity") == "duplicate_fraction")).row(0, named=True)
    assert dup["end"] == pytest.approx(0.75)  # 4 identical answers: (G-1)/G
    assert {"task A eval reward", "task B eval reward"} <= set(report.headline["quantity"].to_list())
    assert report.collapse_notes() == ["grpo, phase 2: entropy fell from 1 to 0.2 nats (below 50% of its start)"]


def test_three_figures_and_collapsed_prompts_side_by_side(report) -> None:
    assert [f.title.split(".")[0] for f in report.figures] == ["Figure 1", "Figure 2", "Figure 3"]
    assert all(f.png.startswith(b"\x89PNG") for f in report.figures)
    assert report.collapsed, "no collapsed prompts"
    first = report.collapsed[0]
    assert first["step"] == 30 and [entry["lineage"] for entry in first["lineages"]] == ["grpo", "repo_r"]
    grpo = first["lineages"][0]
    assert grpo["responses"] == ["alpha beta gamma"] * 4 and grpo["value"] == pytest.approx(1.0)


def test_every_log_string_is_escaped(tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "hostile.jsonl", experiment_rows(hostile=True))
    page = build_report(log, embedder="hashing", progress=False, collapsed_prompts=6).render()
    assert "<script>" not in page and "<b>bold</b>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/textarea&gt;&lt;b&gt;bold&lt;/b&gt;" in page
    assert "x" * 5000 in page and "\u202eevil right-to-left\u202c" in page


def test_the_page_references_nothing_outside_itself(report) -> None:
    page = report.render()
    assert "Content-Security-Policy" in page
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    # The app's script names the SVG namespace (an identifier, never fetched); no other URL.
    page = page.replace('"http://www.w3.org/2000/svg"', "")
    assert "http://" not in page and "https://" not in page


def test_findings_are_shown_escaped(report) -> None:
    from dataclasses import replace

    page = replace(report, findings="PASS  a <claim> & more").render()
    assert '<h2 id="findings">' in page and "PASS  a &lt;claim&gt; &amp; more" in page
    assert 'id="findings"' not in report.render()


def test_notebook_display_is_a_fragment(report) -> None:
    fragment = report._repr_html_()
    assert "<html" not in fragment and 'class="rd-report"' in fragment and "<img" in fragment


def test_to_html_needs_force_to_replace(tmp_path: Path, report) -> None:
    out = tmp_path / "r.html"
    report.to_html(out)
    with pytest.raises(OptionError, match="exists; pass --force"):
        report.to_html(out)
    report.to_html(out, force=True)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


def test_report_and_plot_commands(tmp_path: Path, experiment_log: Path, capsys) -> None:
    out = tmp_path / "reports" / "exp.html"
    args = ["report", str(experiment_log), "--out", str(out), "--embedder", "hashing", "--no-progress"]
    assert main(args) == 0 and out.stat().st_size > 10_000
    assert main(args) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["report", str(experiment_log), "--out", str(experiment_log), "--force", "--embedder", "hashing"]) == 2
    assert "is also an input" in capsys.readouterr().err

    figures = tmp_path / "figures"
    assert main(["plot", str(experiment_log), "--out", str(figures), "--embedder", "hashing", "--no-progress",
                 "--extra-metric", "distinct_n"]) == 0
    names = sorted(p.name for p in figures.iterdir())
    assert names == sorted(f"{stem}.{kind}" for stem in ("entropy", "eval_reward", "diversity", "extra_metrics")
                           for kind in ("png", "svg"))
    assert (figures / "entropy.svg").read_text().lstrip().startswith("<?xml")
    assert main(["plot", str(experiment_log), "--out", str(figures), "--embedder", "hashing",
                 "--extra-metric", "nonsense"]) == 2


def test_score_splits_limits_scoring_but_not_entropy_or_reward(tmp_path: Path, experiment_log: Path) -> None:
    out = tmp_path / "eval_only.html"
    assert main(["report", str(experiment_log), "--out", str(out), "--embedder", "hashing", "--no-progress",
                 "--score-splits", "eval"]) == 0
    from diversity.analysis import analyse

    analysis = analyse(experiment_log, embedder="hashing", score_splits=("eval",), progress=False)
    assert analysis.scores.groups["split"].unique().to_list() == ["eval"]
    assert analysis.entropy.height and analysis.evals.height


def test_run_configs_give_lineage_phase_and_fork_parents(tmp_path: Path) -> None:
    from diversity.analysis import parent_lineages, read_run

    def run(name, lineage, parent, derived_lineage=None):
        path = tmp_path / name
        (path / "rollouts").mkdir(parents=True)
        config = {"run": {"lineage": lineage, "init_from": parent, "phase": None},
                  "derived": {"lineage": derived_lineage or lineage, "phase": "2"}}
        (path / "config.json").write_text(json.dumps(config), encoding="utf-8")
        return read_run(path)

    runs = [run("repo_r_p1", "repo_r", "runs/base"), run("repo_r_p2", None, "runs/repo_r_p1", "repo_r"),
            run("raised_p2", "repo_r_raised", "runs/repo_r_p1")]
    assert parent_lineages(runs) == {"repo_r_raised": "repo_r"}
    assert [(r.lineage, r.phase) for r in runs] == [("repo_r", "2"), ("repo_r", "2"), ("repo_r_raised", "2")]


def test_shipped_run_configs_record_their_fork_parents() -> None:
    from diversity.analysis import parent_lineages, read_run

    runs = [read_run(path) for path in sorted((REPO / "data" / "experiment" / "seed0").iterdir())]
    assert parent_lineages(runs) == {"grpo": "base", "repo_r": "base", "repo_r_raised": "repo_r"}
    assert all(r.metrics.height and {"step", "entropy"} <= set(r.metrics.columns) for r in runs)


def test_saved_scores_can_stand_for_the_logs(tmp_path: Path, experiment_log: Path) -> None:
    from diversity.analysis import analyse
    from diversity.scoring import score

    saved = score(pl.DataFrame(experiment_rows()), metrics=["vendi_score"], embedder="hashing", progress=False)
    path = saved.to_parquet(tmp_path / "scores.parquet")
    analysis = analyse([experiment_log, path], score_logs=False, progress=False)
    assert analysis.scores.metrics == ("vendi_score",) and analysis.scores.groups.equals(saved.groups)
    assert analysis.entropy.height and analysis.evals.height and analysis.logs.rows


def test_correctness_metrics_figure_and_definitions_with_a_threshold(tmp_path: Path, experiment_log: Path) -> None:
    # The experiment's rewards are 0.4 + 0.01 * step, equal within each group: every group is dead.
    page = build_report(experiment_log, embedder="hashing", progress=False, correct_threshold=0.5, pass_k=2)
    assert [f.title.split(".")[0] for f in page.figures] == ["Figure 1", "Figure 2", "Figure 3", "Figure 4"]
    definitions = {d["name"]: d for d in page.definitions}
    assert definitions["pass_at_k"]["description"].endswith("Correct here: reward >= 0.5. k here: 2.")
    assert definitions["pass_at_k"]["direction"] == "higher = more prompts solved within k tries"
    dead_groups = definitions["reward_zero_std"]
    assert dead_groups["range"] == "[0.0, 1.0]" and "dead groups" in dead_groups["direction"]
    dead = page.headline.filter((pl.col("quantity") == "reward_zero_std") & (pl.col("phase") == "2"))
    assert dead["end"].to_list() == [1.0, 1.0]
    passed = page.headline.filter((pl.col("quantity") == "pass_at_1") & (pl.col("phase") == "1"))
    assert passed.select("start", "end").rows() == [(0.0, 1.0), (0.0, 1.0)]  # reward 0.4 at step 0, 0.5 at 10
    assert page.collapsed_metric == "vendi_score"
    figures = tmp_path / "figures"
    assert main(["plot", str(experiment_log), "--out", str(figures), "--embedder", "hashing", "--no-progress",
                 "--correct-threshold", "0.5"]) == 0
    assert (figures / "pass_at_k.png").exists() and (figures / "pass_at_k.svg").exists()

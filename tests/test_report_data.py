"""The interactive page's data: embedded inertly, groups chosen by the stated rule, duplicates folded."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import polars as pl
import pytest

from diversity.analysis import analyse
from diversity.report import build_report, page_data
from diversity.schema import GROUP_KEYS
from rollout_common.errors import OptionError
from tests.conftest import write_jsonl


def rows(lineages=("grpo", "repo_r"), steps=(0, 10), prompts=5, answers=("a", "a", "b", "a")) -> list[dict]:
    return [
        {"lineage": lineage, "phase": "1", "step": step, "group_id": f"g{p}", "prompt": f"prompt {p}",
         "response": f"{text} {p}", "reward": 1.0 if text == "a" else 0.0, "entropy": 1.0, "n_tokens": 2,
         "split": split, "task": "A"}
        for lineage in lineages for step in steps for split in ("train", "eval")
        for p in range(prompts) for text in answers
    ]


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    log = write_jsonl(tmp_path_factory.mktemp("data") / "log.jsonl", rows())
    return analyse(log, embedder="hashing", metrics=["duplicate_fraction", "vendi_score"], score_splits=("eval",),
                   progress=False)


def test_embedded_json_cannot_close_its_script_element_and_reads_back_unchanged() -> None:
    hostile = {"text": ["</script><script>alert(1)</script>", "<!-- x", "a & b > c", "line\u2028sep\u2029para",
                        "\u202eevil right-to-left\u202c", "\"quoted\" \\ back"]}
    text = page_data.embed_json(hostile)
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert "\\u003c/script\\u003e" in text and "\\u0026" in text and "\\u2028" in text
    assert json.loads(text) == hostile
    with pytest.raises(ValueError):
        page_data.embed_json({"value": float("nan")})  # JSON.parse would reject NaN


def test_duplicates_fold_with_counts_most_frequent_first() -> None:
    frame = pl.DataFrame(rows(lineages=("grpo",), steps=(0,), prompts=1, answers=("b", "a", "a", "a", "b", "c")))
    frame = frame.with_columns(pl.when(pl.col("response") == "c 0").then(0.5).otherwise(pl.col("reward")).alias("reward"))
    folded = page_data.fold_answers(frame, frame.select(GROUP_KEYS).unique().filter(pl.col("split") == "eval"))
    assert folded.height == 1
    answers = folded["answers"][0].to_list()
    assert [(a["response"], a["count"], a["reward"]) for a in answers] == [("a 0", 3, 1.0), ("b 0", 2, 0.0), ("c 0", 1, 0.5)]
    assert all(a["tokens"] == 2 for a in answers)

    same_text = frame.with_columns(pl.lit("same").alias("response"))  # one text, rewards 1, 0 and 0.5: kept apart
    folded = page_data.fold_answers(same_text, same_text.select(GROUP_KEYS).unique().filter(pl.col("split") == "eval"))
    assert [(a["count"], a["reward"]) for a in folded["answers"][0].to_list()] == [(3, 1.0), (2, 0.0), (1, 0.5)]


def _lowest_hash(prompts: list[str], ids: list[str], keep: int) -> set[str]:
    digest = {g: hashlib.sha1(f"{p}\0{g}".encode()).hexdigest() for p, g in zip(prompts, ids)}
    return set(sorted(digest, key=digest.get)[:keep])


def test_groups_per_step_keeps_the_same_lowest_hash_prompts_in_every_lineage(analysis) -> None:
    chosen, rule = page_data.select_groups(analysis.scores, groups_per_step=2)
    expected = _lowest_hash([f"prompt {p}" for p in range(5)], [f"g{p}" for p in range(5)], 2)
    per_partition = chosen.group_by("lineage", "phase", "step", "split").agg(pl.col("group_id").sort())
    assert per_partition.height == 4  # 2 lineages × 2 steps, eval only (train was not scored)
    assert all(set(ids) == expected for ids in per_partition["group_id"].to_list())
    assert rule.startswith("8 of 20 scored groups are in the page: at every step, up to 2 per lineage, phase and split")
    assert "--groups-per-step" in rule

    chosen, rule = page_data.select_groups(analysis.scores, group_steps=[10])
    assert chosen["step"].unique().to_list() == [10] and chosen.height == 10
    assert rule.startswith("All 10 scored groups at step 10 are in the page.")
    with pytest.raises(OptionError, match=r"--group-steps 5: no scored groups at that step; scored steps: 0, 10"):
        page_data.select_groups(analysis.scores, group_steps=[5, 10])
    with pytest.raises(OptionError, match="at least 1"):
        page_data.select_groups(analysis.scores, groups_per_step=0)


def test_without_a_rule_every_group_fits_or_the_largest_count_per_step_that_fits(analysis) -> None:
    chosen, rule = page_data.select_groups(analysis.scores)
    assert chosen.height == 20 and rule.startswith("All 20 scored groups are in the page.")
    one_group = 160 + len("prompt 0") + 2 * (len("a 0") + 24)  # the size estimate of one group: two distinct answers
    chosen, rule = page_data.select_groups(analysis.scores, budget=one_group * 4 * 3)
    assert chosen.height == 12 and "up to 3 per lineage" in rule


def test_page_data_covers_every_step_and_the_browser_only_scored_groups(analysis) -> None:
    data = page_data.page_data(analysis)
    steps = [dict(zip(data["steps"]["columns"], r)) for r in data["steps"]["rows"]]
    assert {(s["lineage"], s["step"], s["split"]) for s in steps} == {
        (lineage, step, split) for lineage in ("grpo", "repo_r") for step in (0, 10) for split in ("train", "eval")}
    train = next(s for s in steps if s["split"] == "train")
    assert (train["groups"], train["scored"], train["answers"], train["vendi_score"]) == (5, 0, 20, None)
    assert "train groups were not scored" in data["selection"]["rule"]
    group = dict(zip(data["groups"]["columns"], data["groups"]["rows"][0]))
    assert data["texts"][group["prompt"]] == "prompt 0" and group["size"] == 4
    assert [(data["texts"][t], n, r, k) for t, n, r, k in group["answers"]] == [("a 0", 3, 1.0, 2), ("b 0", 1, 0.0, 2)]
    assert group["duplicate_fraction"] == pytest.approx(0.5)  # 4 answers, 2 distinct: (4 - 2) / 4
    assert [m["name"] for m in data["metrics"]] == ["duplicate_fraction", "vendi_score"]
    assert json.loads(page_data.embed_json(data)) == data


def test_the_policy_allows_exactly_the_page_s_own_script_and_styles(tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", rows(prompts=2))
    page = build_report(log, embedder="hashing", metrics=["vendi_score"], progress=False).render()
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    script = (Path(page_data.__file__).parent / "assets" / "app.js").read_text(encoding="utf-8")
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}';" in policy
    assert policy.startswith("default-src 'none'; img-src data:; style-src 'sha256-")
    assert "unsafe" not in policy and len(re.findall(r"<style>", page)) == policy.count("'sha256-") - 1
    assert page.count("<script data-rd-app>") == 1 and page.count('<script type="application/json" data-rd-data>') == 1


def test_each_notebook_fragment_has_its_own_root_and_no_policy(tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", rows(prompts=2))
    report = build_report(log, embedder="hashing", metrics=["vendi_score"], progress=False)
    ids = [re.search(r'<section class="rd-app" id="([^"]+)"', report._repr_html_()).group(1) for _ in range(2)]
    assert ids[0] != ids[1]
    assert "Content-Security-Policy" not in report._repr_html_() and "data-page=" not in report._repr_html_()

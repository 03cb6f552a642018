"""The quirks tests/data/real/README.md claims for each real-library fixture are in the files.

These read the fixtures with plain pyarrow/json/torch, not with the project's loaders: they pin what the
loaders are written against, so a regenerated fixture that lost a quirk fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

REAL = Path(__file__).resolve().parent / "data" / "real"
TRL = REAL / "trl"
GROUP = 4  # num_generations in make_trl.py


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def trl_files(setting: str) -> list[list[dict]]:
    return [pq.read_table(f).to_pylist() for f in sorted((TRL / setting / "completions").glob("*.parquet"))]


def text(message) -> str:
    return message if isinstance(message, str) else message[-1]["content"]


@pytest.mark.parametrize("setting", sorted(p.name for p in TRL.iterdir() if p.is_dir()))
def test_trl_output_dir_holds_completions_in_consecutive_groups(setting):
    assert sorted(p.name for p in (TRL / setting).iterdir()) == ["completions", "trainer_state.json"]
    for step, rows in enumerate(trl_files(setting), start=1):
        assert {r["step"] for r in rows} == {step}
        for start in range(0, len(rows), GROUP):
            assert len({str(r["prompt"]) for r in rows[start:start + GROUP]}) == 1


def test_trl_conversational_columns_are_message_lists():
    schema = pq.read_schema(TRL / "conversational" / "completions" / "completions_00001.parquet")
    assert str(schema.field("prompt").type) == "list<element: struct<role: string, content: string>>"
    rows = [r for rows in trl_files("conversational") for r in rows]
    assert {len(r["prompt"]) for r in rows} == {1, 2}
    assert {r["completion"][0]["role"] for r in rows} == {"assistant"}


def test_trl_none_rewards_are_nulls_from_the_first_row():
    files = sorted((TRL / "none_rewards" / "completions").glob("*.parquet"))
    for path in files:
        table = pq.read_table(path)
        assert table["math_reward"].null_count + table["text_reward"].null_count >= len(table)
        first = table.slice(0, 1).to_pylist()[0]
        assert first["math_reward"] is None or first["text_reward"] is None
    unscorable = trl_files("none_rewards")[2][4:8]
    assert all(r["math_reward"] is None and r["text_reward"] is None and r["advantage"] == 0.0 for r in unscorable)
    assert all(isinstance(r["n_words"], int) for r in unscorable)


def test_trl_reward_weights_leave_columns_unweighted_and_weight_the_advantage():
    for plain, weighted in zip(trl_files("plain_two_rewards"), trl_files("reward_weights")):
        assert [(r["length_reward"], r["contains_answer"]) for r in plain] == \
               [(r["length_reward"], r["contains_answer"]) for r in weighted]
        total = np.array([r["length_reward"] + 0.5 * r["contains_answer"] for r in weighted]).reshape(-1, GROUP)
        expected = (total - total.mean(1, keepdims=True)) / (total.std(1, ddof=1, keepdims=True) + 1e-4)
        np.testing.assert_allclose([r["advantage"] for r in weighted], expected.ravel(), atol=1e-5)


def without_step(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "step"} for r in rows]


def test_trl_steps_per_generation_relogs_one_batch_and_gradient_accumulation_does_not():
    one, two, three, four = trl_files("steps_per_generation")
    assert without_step(one) == without_step(two) and without_step(three) == without_step(four)
    assert without_step(one) != without_step(three)
    first, second = trl_files("gradient_accumulation")
    assert without_step(first) != without_step(second)


def test_trl_duplicate_prompts_and_eval_overwrite():
    (rows,) = trl_files("duplicate_prompts")
    assert len(rows) == 2 * GROUP and len({r["prompt"] for r in rows}) == 1 and rows[1]["completion"] == ""
    assert {r["prompt"] for r in trl_files("with_eval")[1]} == {"name a colour", "the sky is"}
    history = json.loads((TRL / "with_eval" / "trainer_state.json").read_text())["log_history"]
    assert any(e["step"] == 2 and any(k.startswith("eval_") for k in e) for e in history)


def test_verl_classic_dumps_are_reordered_without_uid():
    rollout = REAL / "verl" / "classic" / "rollout"
    assert sorted(int(p.stem) for p in rollout.glob("*.jsonl")) == list(range(1, 11))
    step1 = jsonl(rollout / "1.jsonl")
    assert len(step1) == 8 and "uid" not in step1[0]
    inputs = [r["input"] for r in step1]
    assert inputs != sorted(inputs, key=inputs.index)  # not in contiguous groups
    assert len({r["input"] for r in jsonl(rollout / "2.jsonl")}) == 1  # two items, one prompt text
    assert set(step1[0]) == {"input", "output", "gts", "score", "step", "acc", "pred"}
    validation = REAL / "verl" / "classic" / "validation"
    assert sorted(int(p.stem) for p in validation.glob("*.jsonl")) == [0, 5, 10]
    rows = jsonl(validation / "0.jsonl")
    assert all(r["reward"] == r["score"] for r in rows) and ["4", "four"] in [r["gts"] for r in rows]


def test_verl_v1_uid_keys_name_group_session_and_output():
    rows = jsonl(REAL / "verl" / "v1" / "rollout" / "2.jsonl")
    keys = [re.fullmatch(r"([0-9a-f-]{36})_(\d+)_(\d+)", r["uid"]).groups() for r in rows]
    assert keys == sorted(keys, key=lambda k: (k[0], int(k[1]), int(k[2])))
    assert len(rows) == 7 and len({k[:2] for k in keys}) == 6 and len({k[0] for k in keys}) == 2
    assert len({r["input"] for r in rows if r["uid"].endswith("_0")}) == 1


def test_lm_eval_samples_repeat_each_document_once_per_filter():
    (path,) = (REAL / "lm_eval" / "tiny-gpt2").glob("samples_tiny_arith_*.jsonl")
    rows = jsonl(path)
    assert [(r["doc_id"], r["filter"]) for r in rows] == [(d, f) for f in ("first", "maj@3") for d in range(4)]
    by_doc = {}
    for r in rows:
        assert len(r["resps"]) == 1 and len(r["resps"][0]) == 3
        by_doc.setdefault(r["doc_id"], []).append(r)
    assert all(a["resps"] == b["resps"] for a, b in by_doc.values())
    assert by_doc[2][0]["filtered_resps"] != by_doc[2][1]["filtered_resps"]


@pytest.mark.parametrize("version, field", [("0.1.12", "task"), ("0.3.1", "info")])
def test_verifiers_results_rows(version, field):
    (path,) = (REAL / "verifiers" / f"v{version}" / "outputs" / "evals" / "tiny-qa--tiny-chat").glob("*/results.jsonl")
    rows = jsonl(path)
    assert sorted(r["example_id"] for r in rows) == [e for e in range(4) for _ in range(3)]
    assert all(field in r and ({"task", "info"} - {field}).isdisjoint(r) for r in rows)
    assert all(r["prompt"][-1]["role"] == "user" and r["completion"][-1]["role"] == "assistant" for r in rows)
    assert all(r["reward"] == pytest.approx(r["exact_answer"] + 0.2 * r["brevity"]) for r in rows)


def test_tables_hold_a_generations_column_and_user_columns():
    from datasets import load_from_disk

    dataset = load_from_disk(str(REAL / "tables" / "hf_dataset"))
    assert dataset.column_names == ["id", "prompt", "generations", "rewards", "model"]
    assert dataset[2]["generations"] == [] and None in dataset[1]["rewards"]
    lines = (REAL / "tables" / "user_columns.csv").read_text().splitlines()
    assert lines[0] == "question,answer,uid,iteration,score" and lines[7].endswith(",q2,0,")


def test_novelty_bench_folders():
    root = REAL / "novelty_bench" / "evaluation"
    a = root / "2026-01-15_tiny-chat-a" / "nb-curated"
    generations = {r["id"]: r["generations"] for r in jsonl(a / "generations.jsonl")}
    assert generations["curated-17"] == [] and "curated-17" not in {r["id"] for r in jsonl(a / "scores.jsonl")}
    for folder, offset in ((a, 0), (root / "2026-01-20_tiny-chat-b-dpo" / "nb-curated", 1)):
        for r in jsonl(folder / "scores.jsonl"):
            assert r["distinct"] == max(r["partition"]) + offset
            seen = [r["partition"][:i].count(p) > 0 for i, p in enumerate(r["partition"])]
            assert all(score == 0 for score, repeat in zip(r["generation_scores"], seen) if repeat)
            weights = 0.8 ** np.arange(len(r["generations"]))
            assert r["utility"] == pytest.approx(np.average(r["generation_scores"], weights=weights))


def test_skyrl_dumps():
    root = REAL / "skyrl" / "export" / "dumped_evals"
    assert sorted(p.name for p in root.iterdir()) == ["eval_only", "global_step_0_evals", "global_step_10_evals"]
    rows = jsonl(root / "global_step_10_evals" / "openai_gsm8k.jsonl")
    assert rows[0]["input_prompt"].startswith("<|im_start|>system") and len(rows) == 9
    assert {r["stop_reason"] for r in rows} <= {"stop", "length"}
    assert all(isinstance(r["score"], list) for r in jsonl(root / "global_step_10_evals" / "synthetic_multi_turn_math.jsonl"))
    assert {r["data_source"] for r in jsonl(root / "eval_only" / "unknown.jsonl")} == {"unknown"}


def test_slime_dumps_load_only_without_arbitrary_unpickling():
    torch = pytest.importorskip("torch")
    folder = REAL / "slime" / "dump" / "rollout_data"
    samples = [s for name in ("0", "1", "eval_1") for s in torch.load(folder / f"{name}.pt", weights_only=True)["samples"]]
    assert [s["group_index"] for s in samples] == [g for g in range(6) for _ in range(4)]
    assert {type(s["prompt"]).__name__ for s in samples} == {"str", "list"}
    assert {s["status"] for s in samples} == {"completed", "truncated", "aborted"}
    assert any(isinstance(s["reward"], dict) for s in samples) and any(s["reward"] is None for s in samples)
    with pytest.raises(Exception, match="Unsupported global"):
        torch.load(REAL / "slime" / "pickled_class" / "rollout_data" / "0.pt", weights_only=True)


def test_batch_outputs():
    openai = jsonl(REAL / "batch_output" / "openai_batch_output.jsonl")
    assert [r["custom_id"] for r in openai] == ["request-3", "request-1", "request-5", "request-2", "request-4"]
    assert {len(r["response"]["body"]["choices"]) for r in openai if r["response"] and r["response"]["status_code"] == 200} == {4}
    assert sum(r["response"] is None for r in openai) == 1
    vllm = jsonl(REAL / "batch_output" / "vllm_batch_output.jsonl")
    assert [isinstance(r["error"], str) for r in vllm] == [False] * 4 + [True]

"""Write SkyRL evaluation dumps from its source's schema (fixture for the SkyRL loader).

Not run through SkyRL (its trainer needs ray and an inference engine).  Schema from NovaSky-AI/SkyRL at
commit a9564572e: ``skyrl/train/evaluate.py`` (``evaluate``) and
``skyrl/train/utils/trainer_utils.py`` (``dump_per_dataset_eval_results``, ``sanitize_data_source``):

- folder ``{trainer.export_path}/dumped_evals/global_step_{N}_evals/`` (``eval_only/`` when run
  outside training, global_step None); written when ``trainer.dump_eval_results`` (default True);
- one ``{data_source with "/" -> "_"}.jsonl`` per data source (``data_source`` read from each row's
  ``env_extras``; None -> ``unknown``), rows in data-loader order with each prompt's
  ``eval_n_samples_per_prompt`` samples consecutive (``prepare_generator_input``), each line
  ``{"input_prompt", "output_response", "score", "stop_reason", "env_class", "env_extras",
  "data_source"}`` with ``json.dumps(..., ensure_ascii=False)``;
- ``input_prompt``/``output_response`` are ``tokenizer.decode(ids)`` with special tokens kept (the
  chat template's ``<|im_start|>``/``<|im_end|>``, the response's closing ``<|im_end|>`` when it
  stopped, none when cut at the length limit);
- ``score`` is ``GeneratorOutput["rewards"][i]``: a float, or a list of per-token floats for
  generators with token-level rewards (``Union[List[float], List[List[float]]]``);
- ``env_extras`` is every data-set column other than prompt and env_class (``PromptDataset``), e.g.
  ``reward_spec``, ``extra_info``, ``data_source`` (``examples/train/gsm8k/gsm8k_dataset.py``);
- ``aggregated_results.jsonl`` beside them: one line of metrics, not samples.

Made up: questions, answers and scores.  Layout (tests/data/real/skyrl/export/dumped_evals/):
``global_step_0_evals/`` and ``global_step_10_evals/`` (openai/gsm8k with 3 samples a prompt, and a
multi-turn data source whose scores are per-token lists), ``eval_only/`` (one data source, one row
set without a data_source -> ``unknown.jsonl``).

Re-run (from the repository root; replaces tests/data/real/skyrl/):

    /work/main/.venv/bin/python tests/data/real/make_skyrl.py
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent / "skyrl" / "export" / "dumped_evals"
SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
INSTRUCTION = 'Let\'s think step by step and output the final answer after "####".'
GSM8K = [("Natalia sold 48 clips in April and half as many in May. How many clips did she sell?", "72"),
         ("Weng earns $12 an hour. She babysat for 50 minutes. How much did she earn?", "10"),
         ("Betty needs $100 and has half of it. Her parents give $15, her grandparents twice that. "
          "How much more does she need?", "5")]
MULTI_TURN = [("A shop has 5 boxes of 6 eggs. 7 eggs break. How many are left?", "23")]
N = 3


def chat(question: str) -> str:
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{question} {INSTRUCTION}<|im_end|>\n"
            "<|im_start|>assistant\n")


def answer(rng: random.Random, truth: str) -> tuple[str, str, float]:
    kind = rng.choice(["right", "right", "wrong", "length"])
    if kind == "right":
        return f"Step by step: the total is {truth}.\n#### {truth}<|im_end|>", "stop", 1.0
    if kind == "wrong":
        wrong = str(int(truth) + rng.randint(1, 9))
        return f"I compute {wrong}.\n#### {wrong}<|im_end|>", "stop", 0.0
    return "Let me carefully set up the problem. First, we note that the quantity in", "length", 0.0


def rows_for(rng, items, data_source, env_class, split="test", token_level=False):
    rows = []
    for index, (question, truth) in enumerate(items):
        env_extras = {"reward_spec": {"method": "rule", "ground_truth": truth},
                      "extra_info": {"split": split, "index": index, "question": question}}
        if data_source is not None:
            env_extras["data_source"] = data_source
        for _ in range(N):
            response, stop, score = answer(rng, truth)
            if token_level:
                turn = f"<|im_end|>\n<|im_start|>user\nCheck your arithmetic.<|im_end|>\n<|im_start|>assistant\n#### {truth}"
                response = response.replace("<|im_end|>", "") + turn + "<|im_end|>" if stop == "stop" else response
                # per-token rewards: half the first turn's score on its last token, 1.0 for the corrected final turn
                score = [0.0] * 11 + [0.5 * score] + [0.0] * 6 + [1.0 if stop == "stop" else 0.0]
            rows.append({"input_prompt": chat(question), "output_response": response, "score": score,
                         "stop_reason": stop, "env_class": env_class, "env_extras": env_extras,
                         "data_source": data_source if data_source is not None else "unknown"})
    return rows


def total(row) -> float:
    return row["score"] if isinstance(row["score"], float) else sum(row["score"])


def mean_score(rows) -> float:
    return sum(map(total, rows)) / len(rows)


def pass_at_n(rows) -> float:
    groups = [rows[i:i + N] for i in range(0, len(rows), N)]
    return sum(any(total(r) > 0 for r in g) for g in groups) / len(groups)


def write_step(folder: Path, groups: dict[str, list[dict]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {}
    for data_source, rows in groups.items():
        name = data_source.replace("/", "_")
        with open(folder / f"{name}.jsonl", "w") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        metrics[f"eval/{name}/avg_score"] = mean_score(rows)
        metrics[f"eval/{name}/pass_at_{N}"] = pass_at_n(rows)
        metrics[f"eval/{name}/mean_positive_reward"] = mean_score([r for r in rows if total(r) > 0] or rows)
    all_rows = [r for rows in groups.values() for r in rows]
    metrics["eval/all/avg_score"] = mean_score(all_rows)
    with open(folder / "aggregated_results.jsonl", "w") as f:
        f.write(json.dumps(metrics, ensure_ascii=False) + "\n")


def main() -> None:
    shutil.rmtree(HERE.parent.parent, ignore_errors=True)
    rng = random.Random(0)
    for step in (0, 10):
        write_step(HERE / f"global_step_{step}_evals", {
            "openai/gsm8k": rows_for(rng, GSM8K, "openai/gsm8k", "gsm8k"),
            "synthetic/multi_turn_math": rows_for(rng, MULTI_TURN, "synthetic/multi_turn_math", "gsm8k_multi_turn",
                                                  token_level=True),
        })
    write_step(HERE / "eval_only", {"openai/gsm8k": rows_for(rng, GSM8K[:1], "openai/gsm8k", "gsm8k"),
                                    "unknown": rows_for(rng, GSM8K[1:2], None, "gsm8k")})
    for path in sorted(HERE.rglob("*.jsonl")):
        print(path.relative_to(HERE), sum(1 for _ in path.open()))


if __name__ == "__main__":
    main()

"""Write slime ``--dump-details`` rollout files from its source's schema (fixture for the slime loader).

Not run through slime (it needs Megatron, SGLang and ray).  Schema from THUDM/slime at commit 624b824a8:

- ``slime/utils/arguments.py``: ``--dump-details D`` sets ``save_debug_rollout_data =
  D/rollout_data/{rollout_id}.pt`` (and ``D/train_data/{rollout_id}.pt``, ``D/tokenizer/``, not
  written here);
- ``slime/observability/rollout_data_utils.py`` ``save_debug_rollout_data``: ``torch.save({"rollout_id":
  rollout_id, "samples": [sample.to_dict() for sample in data]}, path)``; evaluation writes
  ``rollout_data/eval_{rollout_id}.pt`` with the samples of every eval data set flattened in one list
  (the dict key ``rollout_id`` stays the int);
- ``slime/utils/types.py`` ``Sample.to_dict()``: ``self.__dict__`` with ``status`` as its string value
  ("completed", "truncated", "aborted", "failed", "pending") and ``spec_info``/``prefix_cache_info`` as
  dicts; fields in dataclass order: group_index, index, rollout_id (None unless set), prompt (a string
  after the chat template, or a list of messages), tokens (prompt + response ids), multimodal_*,
  apply_chat_template_kwargs, response, response_length, label, reward (float, or a dict read with
  ``--reward-key``), loss_mask, weight_versions, rollout_log_probs, ..., status, metadata, ...
- ``group_index``/``index`` are global counters of the data source (``RolloutDataSource``): they keep
  growing across rollouts; a group is the ``n_samples_per_prompt`` samples sharing ``group_index``.

Everything in these dicts is plain Python (str, int, float, bool, None, list, dict), so
``torch.load(path, weights_only=True)`` reads them.  slime itself loads them with
``weights_only=False``.

Files (tests/data/real/slime/):

- ``dump/rollout_data/0.pt``, ``1.pt``: 2 prompts x 4 samples each; rollout 0 has string prompts and
  float rewards, rollout 1 has message-list prompts and dict rewards ({"score", "acc", "pred"}), one
  truncated sample and one aborted sample (empty response, reward None); samples ordered by group
  then index, as the rollout returns them.
- ``dump/rollout_data/eval_1.pt``: eval samples of two eval data sets, flattened.
- ``pickled_class/rollout_data/0.pt``: the same payload but holding ``Sample`` objects of a class
  ``slime.utils.types.Sample`` (as a script that skipped ``to_dict()`` would save): loading it needs
  arbitrary unpickling, so ``torch.load(weights_only=True)`` must refuse it.  The class is declared
  here under that module name only to pickle it; nothing of slime is imported.

Made up: prompts, responses, token ids (small integers), log-probs and rewards.

Re-run (from the repository root; replaces tests/data/real/slime/):

    /work/main/.venv/bin/python tests/data/real/make_slime.py
"""

from __future__ import annotations

import dataclasses
import random
import shutil
import sys
import types
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent / "slime"
N = 4
SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
TRAIN = [[("What is 15% of 80?", "12"), ("Solve for x: 2x + 3 = 11.", "4")],
         [("How many primes are below 20?", "8"), ("What is 7! / 5!?", "42")]]
EVAL = {"aime_tiny": [("What is 2^10 mod 7?", "2")], "math500_tiny": [("Simplify 18/24.", "\\frac{3}{4}")]}


def chat_string(question: str) -> str:
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n"
            "<|im_start|>assistant\n")


def sample_dict(rng, *, group_index, index, question, label, messages, reward_dict, status=None):
    kind = status or rng.choice(["right", "right", "wrong"])
    if kind == "truncated":
        response, status_value = "We begin by listing the candidates one at a time and checking each", "truncated"
    elif kind == "aborted":
        response, status_value = "", "aborted"
    else:
        value = label if kind == "right" else str(rng.randint(0, 99))
        response, status_value = f"Working through it, the result is \\boxed{{{value}}}.<|im_end|>", "completed"
    pred = response.split("\\boxed{")[-1].split("}")[0] if "\\boxed{" in response else None
    score = 1.0 if pred == label else 0.0
    prompt = ([{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}] if messages
              else chat_string(question))
    prompt_tokens = [rng.randint(5, 150000) for _ in range(12 + len(question) // 4)]
    response_tokens = [rng.randint(5, 150000) for _ in range(len(response) // 4)]
    return {
        "group_index": group_index,
        "index": index,
        "rollout_id": None,
        "prompt": prompt,
        "tokens": prompt_tokens + response_tokens,
        "multimodal_inputs": None,
        "multimodal_train_inputs": None,
        "multimodal_train_input_id": None,
        "apply_chat_template_kwargs": {},
        "response": response,
        "response_length": len(response_tokens),
        "label": label,
        # an aborted sample was never scored: reward keeps the dataclass default None
        "reward": None if status_value == "aborted" else (
            {"score": score, "acc": score == 1.0, "pred": pred} if reward_dict else score),
        "loss_mask": None,
        "weight_versions": ["3"] if response_tokens else [],
        "rollout_log_probs": [round(-rng.random() * 2, 4) for _ in response_tokens],
        "rollout_top_p_token_ids": None,
        "rollout_top_p_token_offsets": None,
        "rollout_routed_experts": None,
        "remove_sample": False,
        "teacher_log_probs": None,
        "status": status_value,
        "metadata": {"source": "tiny_math", "question_id": f"q{group_index}"},
        "generate_function_path": None,
        "custom_rm_path": None,
        "train_metadata": None,
        "session_id": None,
        "non_generation_time": 0.0,
        "spec_info": {"spec_accept_token_num": 0, "spec_draft_token_num": 0, "spec_verify_ct": 0,
                      "completion_token_num": len(response_tokens)},
        "prefix_cache_info": {"cached_tokens": 0 if index % N == 0 else len(prompt_tokens),
                              "total_prompt_tokens": len(prompt_tokens)},
    }


def write_dump() -> list[dict]:
    rng = random.Random(0)
    group_index = index = 0
    folder = HERE / "dump" / "rollout_data"
    folder.mkdir(parents=True)
    first = []
    for rollout_id, items in enumerate(TRAIN):
        samples = []
        for question, label in items:
            for k in range(N):
                status = {(1, 1): "truncated", (1, 2): "aborted"}.get((rollout_id, k)) if group_index == 3 else None
                samples.append(sample_dict(rng, group_index=group_index, index=index, question=question, label=label,
                                           messages=rollout_id == 1, reward_dict=rollout_id == 1, status=status))
                index += 1
            group_index += 1
        torch.save({"rollout_id": rollout_id, "samples": samples}, folder / f"{rollout_id}.pt")
        first = first or samples
    eval_samples = []
    for items in EVAL.values():
        for question, label in items:
            for _ in range(N):
                eval_samples.append(sample_dict(rng, group_index=group_index, index=index, question=question,
                                                label=label, messages=False, reward_dict=False))
                index += 1
            group_index += 1
    torch.save({"rollout_id": 1, "samples": eval_samples}, folder / "eval_1.pt")
    return first


def write_pickled_class(samples: list[dict]) -> None:
    """Sample objects of a class named slime.utils.types.Sample, as a script skipping to_dict() saves them."""
    module = types.ModuleType("slime.utils.types")
    fields = [(name, object, dataclasses.field(default=None)) for name in samples[0]]
    Sample = dataclasses.make_dataclass("Sample", fields)
    Sample.__module__ = module.__name__
    module.Sample = Sample
    for name in ("slime", "slime.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules[module.__name__] = module
    try:
        folder = HERE / "pickled_class" / "rollout_data"
        folder.mkdir(parents=True)
        torch.save({"rollout_id": 0, "samples": [Sample(**s) for s in samples]}, folder / "0.pt")
    finally:
        for name in ("slime.utils.types", "slime.utils", "slime"):
            sys.modules.pop(name, None)


def main() -> None:
    shutil.rmtree(HERE, ignore_errors=True)
    samples = write_dump()
    write_pickled_class(samples)
    for path in sorted(HERE.rglob("*.pt")):
        try:
            payload = torch.load(path, weights_only=True)
            print(path.relative_to(HERE), len(payload["samples"]), "samples, loads with weights_only=True")
        except Exception as error:  # the pickled-class file must be refused
            print(path.relative_to(HERE), "refused by weights_only=True:", type(error).__name__)


if __name__ == "__main__":
    main()

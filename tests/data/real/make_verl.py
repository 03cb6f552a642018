"""Write verl 0.9.1 generation dumps by calling verl's own dump code (fixtures for the verl loader).

Library: verl 0.9.1 (wheel from the package registry), imported from a throwaway venv; no GPU, no ray
cluster, no model.  What is real and what is made up here:

- real verl code: ``RayPPOTrainer._balance_batch`` (the reordering by sequence-length balancing over
  2 data-parallel ranks), ``extract_reward``, ``RayPPOTrainer._log_rollout_data`` and
  ``_dump_generations``/``_write_generations`` (classic trainer, ``verl/trainer/ppo/ray_trainer.py``),
  ``PPOTrainerSync._log_rollout_data`` (new v1 trainer, ``verl/trainer/ppo/v1/trainer_base.py``,
  with TransferQueue's ``kv_batch_get`` replaced by a dict lookup over the same fields), all run on
  trainer objects made without ``__init__`` (only the attributes those methods read are set);
- made up: the "model outputs" (arithmetic answers drawn from a seeded RNG), the scores (1.0 right,
  0.1 format-only, 0.0 wrong, as a rule-based gsm8k-style reward), and a tiny byte-level BPE tokenizer
  trained here with Qwen-style special tokens (``<|im_start|>``, ``<|im_end|>``, ``<|endoftext|>``)
  that verl's ``decode(..., skip_special_tokens=True)`` strips.  The validation rows are collected as
  ``RayPPOTrainer._validate`` collects them (data-set order, ``repeat(n, interleave=True)``, extra
  info ``reward`` + the reward's own keys) and written by the real ``_dump_generations``.

Settings (tests/data/real/verl/):

- ``classic/``: one run of the classic trainer, train_batch_size=2 prompts, rollout.n=4,
  balance_batch=True, 10 steps, test_freq=5, val_before_train=True, val_kwargs.n=2;
  ``trainer.rollout_data_dir=<run>/rollout`` and ``trainer.validation_data_dir=<run>/validation``
  (verl has no default for either: both are null unless set; these names follow the recipes'
  ``$CKPTS_DIR/rollout`` / ``$CKPTS_DIR/validation``).  Files ``rollout/{1..10}.jsonl`` and
  ``validation/{0,5,10}.jsonl``.  The reward returns extra keys ``acc`` and ``pred``.
  Step 2's batch holds two data-set items with the same prompt text.
- ``v1/``: the v1 (TransferQueue) trainer, 2 prompts x rollout.n=3, 2 steps, ``rollout/{1,2}.jsonl``,
  rows carry ``uid`` = ``{prompt uid}_{session}_{output index}``; step 2 holds two data-set items with
  the same prompt text, and one session of a multi-output (tool) agent loop gives two rows
  (output index 0 and 1).

Re-run (from the repository root; replaces tests/data/real/verl/):

    /work/main/.venv/bin/python -m venv /tmp/verlvenv
    echo /work/main/.venv/lib/python3.11/site-packages > /tmp/verlvenv/lib/python3.11/site-packages/main.pth
    /tmp/verlvenv/bin/pip install --no-deps verl==0.9.1 ray==2.60.0 tensordict==0.10.0 torchdata==0.11.0 \\
        peft==0.21.2 pyvers==0.1.0
    /tmp/verlvenv/bin/pip install hydra-core==1.3.8 codetiming msgpack protobuf cachetools fastapi uvicorn \\
        opentelemetry-sdk TransferQueue==0.1.11
    /tmp/verlvenv/bin/python tests/data/real/make_verl.py

(the .pth line lends the project's torch/transformers to the throwaway venv; verl's pin
transformers<5.11 is not honoured, and nothing verl's dump path uses depends on it).
"""

from __future__ import annotations

import random
import shutil
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import verl
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
from verl import DataProto
from verl.trainer.ppo import ray_trainer
from verl.trainer.ppo.reward import extract_reward
from verl.trainer.ppo.v1 import trainer_base
from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync

HERE = Path(__file__).resolve().parent / "verl"
SYSTEM = "You are a helpful assistant."
INSTRUCTION = 'Let\'s think step by step and output the final answer after "####".'
# (question, ground truth) in data-loader order: step k of the classic run takes items 2k-2 and 2k-1,
# so step 2 gets items 2 and 3, two data-set rows with the same question.
ITEMS = [
    ("What is 2 + 3?", "5"), ("What is 7 - 4?", "3"), ("What is 6 + 6?", "12"), ("What is 6 + 6?", "12"),
    ("What is 3 * 3?", "9"), ("What is 10 - 8?", "2"), ("Tom has 4 apples and eats 1. How many are left?", "3"),
    ("What is 5 + 9?", "14"), ("What is 8 / 2?", "4"), ("What is 1 + 1?", "2"), ("What is 9 - 5?", "4"),
    ("What is 2 * 7?", "14"), ("Zoé has 3 pens and buys 2. How many pens?", "5"), ("What is 4 + 4?", "8"),
    ("What is 12 - 7?", "5"), ("What is 3 + 8?", "11"), ("What is 6 * 2?", "12"), ("What is 15 - 5?", "10"),
    ("What is 7 + 7?", "14"), ("What is 20 / 4?", "5"),
]
VAL_ITEMS = [("What is 11 + 2?", "13"), ("Name a number between 3 and 5.", ["4", "four"]), ("What is 9 * 1?", "9")]


def chat_prompt(question: str) -> str:
    return (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{question} {INSTRUCTION}<|im_end|>\n"
            "<|im_start|>assistant\n")


def build_tokenizer() -> PreTrainedTokenizerFast:
    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator([chat_prompt(q) for q, _ in ITEMS + VAL_ITEMS], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   extra_special_tokens=["<|im_start|>"])


def sample_answer(rng: random.Random, truth) -> tuple[str, bool]:
    """A made-up model answer; returns (text, ends with eos)."""
    right = truth[0] if isinstance(truth, list) else truth
    kind = rng.choice(["right", "right", "wrong", "no_marker", "truncated"])
    if kind == "right":
        return f"First I work it out carefully. The answer is {right}.\n#### {right}", True
    if kind == "wrong":
        wrong = int(right) + rng.randint(1, 3) if right.isdigit() else 0
        return f"I think it is {wrong}.\n#### {wrong}", True
    if kind == "no_marker":
        return f"The result should be {right} — I am fairly sure.", True
    return "Let me think step by step. First, we take the first number and then we", False


def score(answer: str, truth) -> tuple[float, bool, str | None]:
    truths = truth if isinstance(truth, list) else [truth]
    pred = answer.split("#### ")[-1].strip() if "#### " in answer else None
    if pred is None:
        return 0.0, False, None
    return (1.0, True, pred) if pred in truths else (0.1, False, pred)


def make_batch(tokenizer, items, n: int, rng: random.Random, uid_rng: random.Random):
    """A DataProto as the classic fit loop has it after generation and reward: prompts repeated
    interleaved n times, responses, attention mask, rm_scores with the score on the last response token."""
    prompt_ids = [tokenizer(chat_prompt(q))["input_ids"] for q, _ in items]
    uids = [str(uuid.UUID(int=uid_rng.getrandbits(128), version=4)) for _ in items]
    rows = [(i, *sample_answer(rng, items[i][1])) for i in range(len(items)) for _ in range(n)]
    response_ids = [tokenizer(text)["input_ids"] + ([tokenizer.eos_token_id] if eos else []) for _, text, eos in rows]
    plen, rlen = max(map(len, prompt_ids)), max(map(len, response_ids))
    pad = tokenizer.pad_token_id
    prompts = torch.tensor([[pad] * (plen - len(prompt_ids[i])) + prompt_ids[i] for i, _, _ in rows])
    prompt_mask = torch.tensor([[0] * (plen - len(prompt_ids[i])) + [1] * len(prompt_ids[i]) for i, _, _ in rows])
    responses = torch.tensor([r + [pad] * (rlen - len(r)) for r in response_ids])
    response_mask = torch.tensor([[1] * len(r) + [0] * (rlen - len(r)) for r in response_ids])
    scored = [score(text, items[i][1]) for i, text, _ in rows]
    rm_scores = torch.zeros(len(rows), rlen)
    for row, (value, _, _) in enumerate(scored):
        rm_scores[row, len(response_ids[row]) - 1] = value
    batch = DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "input_ids": torch.cat([prompts, responses], 1),
                 "attention_mask": torch.cat([prompt_mask, response_mask], 1), "response_mask": response_mask,
                 "rm_scores": rm_scores},
        non_tensors={"uid": np.array([uids[i] for i, _, _ in rows], dtype=object),
                     "reward_model": np.array([{"ground_truth": items[i][1], "style": "rule"} for i, _, _ in rows],
                                              dtype=object),
                     "data_source": np.array(["openai/gsm8k"] * len(rows), dtype=object),
                     "acc": np.array([acc for _, acc, _ in scored]),
                     "pred": np.array([pred for _, _, pred in scored], dtype=object)},
        meta_info={"reward_extra_keys": ["acc", "pred"]},
    )
    return batch, rows, uids, prompt_ids, response_ids


def classic_trainer(tokenizer):
    trainer = object.__new__(ray_trainer.RayPPOTrainer)
    trainer.tokenizer = tokenizer
    trainer.actor_rollout_wg = None
    trainer._get_dp_size = lambda worker_group, role: 2  # two data-parallel ranks to balance over
    trainer._init_dump_executor()
    return trainer


def write_classic(tokenizer) -> None:
    run = HERE / "classic"
    rng, uid_rng = random.Random(0), random.Random(1)
    trainer = classic_trainer(tokenizer)
    for step in range(0, 11):
        trainer.global_steps = step
        if step % 5 == 0:  # val_before_train (step 0) and test_freq=5
            write_classic_validation(trainer, tokenizer, run / "validation", rng, uid_rng)
        if step == 0:
            continue
        items = ITEMS[2 * step - 2: 2 * step]
        batch, *_ = make_batch(tokenizer, items, n=4, rng=rng, uid_rng=uid_rng)
        trainer._balance_batch(batch, metrics={})
        reward_tensor, reward_extra_infos_dict = extract_reward(batch)
        batch.batch["token_level_scores"] = reward_tensor
        trainer._log_rollout_data(batch, reward_extra_infos_dict, timing_raw={}, rollout_data_dir=str(run / "rollout"))
    trainer._shutdown_dump_executor()


def write_classic_validation(trainer, tokenizer, directory: Path, rng, uid_rng) -> None:
    """Collect the rows as RayPPOTrainer._validate does, then write them with its _dump_generations."""
    batch, *_ = make_batch(tokenizer, VAL_ITEMS, n=2, rng=rng, uid_rng=uid_rng)
    inputs = [tokenizer.decode(ids, skip_special_tokens=True) for ids in batch.batch["prompts"]]
    outputs = [tokenizer.decode(ids, skip_special_tokens=True) for ids in batch.batch["responses"]]
    gts = [item.non_tensor_batch.get("reward_model", {}).get("ground_truth", None) for item in batch]
    reward_tensor, reward_extra_info = extract_reward(batch)
    scores = reward_tensor.sum(-1).cpu().tolist()
    reward_extra_infos_dict = {"reward": list(scores)}
    for key, values in reward_extra_info.items():
        reward_extra_infos_dict[key] = values.tolist() if isinstance(values, np.ndarray) else list(values)
    trainer._dump_generations(inputs=inputs, outputs=outputs, gts=gts, scores=scores,
                              reward_extra_infos_dict=reward_extra_infos_dict, dump_path=str(directory))


def write_v1(tokenizer) -> None:
    """PPOTrainerSync._log_rollout_data over TransferQueue-shaped data (keys {uid}_{session}_{index})."""
    run = HERE / "v1"
    rng, uid_rng = random.Random(2), random.Random(3)
    trainer = object.__new__(PPOTrainerSync)
    trainer.tokenizer = tokenizer
    trainer._init_dump_executor()
    steps = {1: [ITEMS[0], ITEMS[1]], 2: [ITEMS[2], ITEMS[3]]}
    for step, items in steps.items():
        trainer.global_steps = step
        batch, rows, uids, prompt_ids, response_ids = make_batch(tokenizer, items, n=3, rng=rng, uid_rng=uid_rng)
        store, keys = {}, []
        for row, (item, _, _) in enumerate(rows):
            session = row % 3
            outputs = [(prompt_ids[item], response_ids[row])]
            final_score = batch.batch["rm_scores"][row].sum()
            if step == 2 and item == 0 and session == 1:
                # A tool-calling agent loop whose session ends in two outputs: the second one's prompt is
                # the first turn plus the tool's reply; both carry the reward of the session's final output.
                call = tokenizer('<tool_call>{"name": "calc", "arguments": {"expr": "6 + 6"}}</tool_call>')["input_ids"]
                call.append(tokenizer.eos_token_id)
                reply = tokenizer("\n<|im_start|>user\n<tool_response>12</tool_response><|im_end|>\n"
                                  "<|im_start|>assistant\n")["input_ids"]
                final = "The tool says 12.\n#### 12"
                outputs = [(prompt_ids[item], call),
                           (prompt_ids[item] + call + reply, tokenizer(final)["input_ids"] + [tokenizer.eos_token_id])]
                final_score = torch.tensor(score(final, items[item][1])[0])
            for index, (p_ids, r_ids) in enumerate(outputs):
                key = f"{uids[item]}_{session}_{index}"
                keys.append(key)
                rm = torch.zeros(len(r_ids))
                rm[-1] = final_score
                store[key] = {"prompts": torch.tensor(p_ids), "responses": torch.tensor(r_ids), "rm_scores": rm,
                              "reward_model": {"ground_truth": items[item][1], "style": "rule"}}
        random.Random(step).shuffle(keys)  # sessions finish in any order; the dump sorts by key

        def kv_batch_get(keys, partition_id, select_fields, store=store):
            def nested(name):
                return torch.nested.nested_tensor([store[k][name] for k in keys], layout=torch.jagged)
            return {"uid": np.array(keys, dtype=object), "prompts": nested("prompts"), "responses": nested("responses"),
                    "rm_scores": nested("rm_scores").to_padded_tensor(0.0),
                    "reward_model": np.array([store[k]["reward_model"] for k in keys], dtype=object)}

        trainer_base.tq.kv_batch_get = kv_batch_get
        trainer._log_rollout_data(SimpleNamespace(keys=keys, partition_id="train"), timing_raw={},
                                  rollout_data_dir=str(run / "rollout"))
    trainer._shutdown_dump_executor()


def main() -> None:
    assert verl.__version__ == "0.9.1", verl.__version__
    shutil.rmtree(HERE, ignore_errors=True)
    tokenizer = build_tokenizer()
    write_classic(tokenizer)
    write_v1(tokenizer)
    for path in sorted(HERE.rglob("*.jsonl")):
        print(path.relative_to(HERE), sum(1 for _ in path.open()))


if __name__ == "__main__":
    main()

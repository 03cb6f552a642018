"""Write TRL GRPOTrainer completion logs by running the real trainer (fixtures for the TRL loader).

Library: trl 1.16.0 (with transformers 5.24.0, datasets 5.2.0, torch 2.13.0+cpu), GRPOTrainer with
``log_completions=True``, ``report_to="none"``, ``save_strategy="no"``, on CPU, offline.

The policy is a randomly initialised 2-layer GPT-2 (n_embd 32) with a word-level tokenizer over a
30-word vocabulary, both built here: nothing is downloaded.  Each setting is one run of a few
optimizer steps (``logging_steps=1``) into its own ``output_dir`` under ``tests/data/real/trl/``:

- ``plain_two_rewards``: plain-text prompts, two reward functions, num_generations=4,
  per_device_train_batch_size=8 (2 prompts x 4 completions a step), 2 steps.
- ``conversational``: prompts are lists of {role, content} messages (every other one starts with a
  system message; a chat template is set on the tokenizer), so ``prompt`` and ``completion`` are
  list<struct<role, content>> columns; 2 steps.
- ``none_rewards``: a multi-task data set (column ``task``); ``math_reward`` returns None unless
  ``task == "math"`` and ``text_reward`` None unless ``task == "text"``, so every row has a null in
  at least one reward column, the first row of each file included, and the one ``task == "other"``
  prompt has nulls in both; ``text_reward`` also logs a ``log_extra`` column ``n_words``; 3 steps
  (one epoch of the 6 prompts).
- ``reward_weights``: two reward functions with ``reward_weights=[1.0, 0.5]``; the files hold the
  unweighted columns; 2 steps.
- ``steps_per_generation``: per_device_train_batch_size=4, steps_per_generation=2 (generation batch
  of 8 = 2 prompts x 4), 4 steps: one generation batch every 2 optimizer steps, so the files of
  steps 1 and 2 (and of 3 and 4) hold the same rows with only ``step`` changed.
- ``gradient_accumulation``: per_device_train_batch_size=4, gradient_accumulation_steps=2 (and so
  steps_per_generation=2 by TRL's default), 2 steps: one new generation batch at every optimizer
  step, so no rows repeat across files (the counter-case of ``steps_per_generation``).
- ``duplicate_prompts``: a data set of two items with the same prompt text; one step of 8 rows is
  two groups of 4 consecutive rows with one identical prompt.
- ``with_eval``: as ``plain_two_rewards`` plus an eval data set evaluated at step 2
  (eval_strategy="steps", eval_steps=2): the eval completions overwrite ``completions_00002.parquet``
  (same path pattern, nothing marks them as eval).

Each fixture is the run's output_dir as TRL leaves it (``completions/completions_{step:05d}.parquet``),
plus ``trainer_state.json`` from ``trainer.save_state()``; no weights or checkpoints are written.

Re-run (from the repository root; about a minute on 2 CPU cores; replaces tests/data/real/trl/):

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 /work/main/.venv/bin/python tests/data/real/make_trl.py
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_DISABLED", "true")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402
import trl  # noqa: E402
from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

HERE = Path(__file__).resolve().parent / "trl"
WORDS = ["<pad>", "<eos>", "<unk>", "user", "assistant", ":", "count", "to", "three", "name", "a", "colour",
         "add", "two", "and", "one", "is", "red", "blue", "green", "four", "five", "yes", "no", "the", "sky",
         "write", "word", "say", "hello", "system", "be", "brief"]
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
                 "{% if add_generation_prompt %}assistant : {% endif %}")
PROMPTS = ["count to three", "name a colour", "add two and one", "say hello", "write a word", "the sky is"]


def tiny_model_and_tokenizer(seed: int = 0):
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins word tokens with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<pad>",
                                        unk_token="<unk>")
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(WORDS), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                        eos_token_id=1, pad_token_id=0, bos_token_id=1)
    return GPT2LMHeadModel(config), tokenizer


def length_reward(completions, **kwargs):
    """Plain or conversational: shorter answers score higher."""
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [1.0 / (1 + len(t.split())) for t in texts]


def contains_answer(completions, answer, **kwargs):
    texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
    return [float(a in t) for t, a in zip(texts, answer)]


def math_reward(completions, answer, task, **kwargs):
    """Scores math rows only; None (unscorable) for the other task."""
    return [float(a in c) if t == "math" else None for c, a, t in zip(completions, answer, task)]


def text_reward(completions, task, log_extra=None, **kwargs):
    """Scores text rows only; None for math rows.  Logs the word count as an extra column."""
    if log_extra is not None:
        log_extra("n_words", [len(c.split()) for c in completions])
    return [min(len(c.split()), 5) / 5 if t == "text" else None for c, t in zip(completions, task)]


def plain_dataset() -> Dataset:
    answers = ["three", "red", "three", "hello", "word", "blue"]
    return Dataset.from_dict({"prompt": PROMPTS, "answer": answers})


def conversational_dataset() -> Dataset:
    system = {"role": "system", "content": "be brief"}
    return Dataset.from_dict({
        "prompt": [[system, {"role": "user", "content": p}] if i % 2 else [{"role": "user", "content": p}]
                   for i, p in enumerate(PROMPTS)],
        "answer": ["three", "red", "three", "hello", "word", "blue"],
    })


def multitask_dataset() -> Dataset:
    return Dataset.from_dict({
        "prompt": PROMPTS,
        "answer": ["three", "", "three", "", "", ""],
        "task": ["math", "text", "math", "text", "other", "text"],  # no function scores "other"
    })


def duplicate_prompt_dataset() -> Dataset:
    """Two data-set items with the same prompt text (different answers)."""
    return Dataset.from_dict({"prompt": ["say hello", "say hello"], "answer": ["hello", "yes"]})


def eval_dataset() -> Dataset:
    return Dataset.from_dict({"prompt": ["name a colour", "the sky is"], "answer": ["red", "blue"]})


SETTINGS = {
    "plain_two_rewards": dict(data=plain_dataset, rewards=[length_reward, contains_answer],
                              config=dict(per_device_train_batch_size=8, max_steps=2)),
    "conversational": dict(data=conversational_dataset, rewards=[length_reward, contains_answer],
                           config=dict(per_device_train_batch_size=8, max_steps=2)),
    "none_rewards": dict(data=multitask_dataset, rewards=[math_reward, text_reward],
                         config=dict(per_device_train_batch_size=8, max_steps=3)),
    "reward_weights": dict(data=plain_dataset, rewards=[length_reward, contains_answer],
                           config=dict(per_device_train_batch_size=8, max_steps=2, reward_weights=[1.0, 0.5])),
    "steps_per_generation": dict(data=plain_dataset, rewards=[length_reward, contains_answer],
                                 config=dict(per_device_train_batch_size=4, steps_per_generation=2, max_steps=4)),
    "gradient_accumulation": dict(data=plain_dataset, rewards=[length_reward, contains_answer],
                                  config=dict(per_device_train_batch_size=4, gradient_accumulation_steps=2,
                                              max_steps=2)),
    "duplicate_prompts": dict(data=duplicate_prompt_dataset, rewards=[length_reward, contains_answer],
                              config=dict(per_device_train_batch_size=8, max_steps=1)),
    "with_eval": dict(data=plain_dataset, rewards=[length_reward, contains_answer], eval=eval_dataset,
                      config=dict(per_device_train_batch_size=8, max_steps=2, eval_strategy="steps", eval_steps=2,
                                  per_device_eval_batch_size=8)),
}


def run(name: str, setting: dict) -> None:
    output_dir = HERE / name
    shutil.rmtree(output_dir, ignore_errors=True)
    model, tokenizer = tiny_model_and_tokenizer()
    args = GRPOConfig(
        output_dir=str(output_dir), num_generations=4, max_completion_length=6, learning_rate=1e-3,
        logging_steps=1, log_completions=True, num_completions_to_print=0, report_to="none",
        save_strategy="no", use_cpu=True, bf16=False, seed=0, data_seed=0, disable_tqdm=True,
        dataloader_num_workers=0, **setting["config"],
    )
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=setting["rewards"],
                          args=args, train_dataset=setting["data"](),
                          eval_dataset=setting["eval"]() if "eval" in setting else None)
    trainer.train()
    trainer.save_state()
    leftovers = sorted(p.name for p in output_dir.iterdir() if p.name not in ("completions", "trainer_state.json"))
    assert not leftovers, f"unexpected files in {output_dir}: {leftovers}"


def main() -> None:
    assert trl.__version__ == "1.16.0", trl.__version__
    torch.set_num_threads(1)
    for name, setting in SETTINGS.items():
        run(name, setting)
        print(name, sorted(p.name for p in (HERE / name / "completions").iterdir()))


if __name__ == "__main__":
    main()

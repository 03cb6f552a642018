"""DiversityCallback in a real trl.GRPOTrainer run: a tiny random GPT-2 built here, a few steps on CPU.

The expected values are recomputed with the scoring API from the completions TRL itself wrote
(``log_completions=True``: ``completions/completions_{step:05d}.parquet``)."""

from __future__ import annotations

import math

import polars as pl
import pytest

import diversity
from diversity.metrics.registry import resolve
from diversity.monitor import PREFIX
from diversity.scoring import score

pytest.importorskip("trl")

G = 4
LEXICAL = [s.name for s in resolve(None) if s.kind == "lexical" and not s.needs]  # the monitor's defaults
WORDS = [f"w{i}" for i in range(24)]


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", "<bos>", "<eos>", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", unk_token="<unk>",
                                  bos_token="<bos>", eos_token="<eos>")
    tok.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    return tok


def length_reward(completions, **kwargs):
    return [len(_text(c).split()) / 5 for c in completions]


def sometimes_reward(completions, **kwargs):
    """None for every other row: TRL nansums the weighted columns; NaN where every function gave None."""
    return [None if i % 2 else float("w1" in _text(c)) for i, c in enumerate(completions)]


def _text(completion) -> str:
    """The test's own reading of a conversational completion: the contents of its messages."""
    return completion if isinstance(completion, str) else "\n".join(m["content"] for m in completion)


def train(tmp_path, tokenizer, callback, *, conversational=False, steps=3, **config):
    import torch
    from datasets import Dataset
    from transformers import GPT2Config, GPT2LMHeadModel
    from trl import GRPOConfig, GRPOTrainer

    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=32, n_embd=16, n_layer=1, n_head=2,
                                       bos_token_id=2, eos_token_id=3, pad_token_id=0))
    prompts = [f"{WORDS[i]} {WORDS[i + 1]}" for i in range(16)]
    rows = [[{"role": "user", "content": p}] for p in prompts] if conversational else prompts
    options = dict(per_device_train_batch_size=8, gradient_accumulation_steps=1, logging_steps=1)
    options.update(config)
    args = GRPOConfig(output_dir=str(tmp_path / "run"), num_generations=G, max_completion_length=6, max_steps=steps,
                      report_to="none", use_cpu=True, beta=0.0, save_strategy="no", seed=0, log_completions=True,
                      num_completions_to_print=0, dataloader_num_workers=0, activation_checkpointing=False,
                      reward_weights=[1.0, 0.5], **options)
    trainer = GRPOTrainer(model=model, processing_class=tokenizer, reward_funcs=[length_reward, sometimes_reward],
                          args=args, train_dataset=Dataset.from_dict({"prompt": rows}), callbacks=[callback])
    trainer.train()
    return trainer


def trl_dump(trainer, step: int) -> pl.DataFrame:
    """TRL's own completions file for ``step``, completions flattened to text, as canonical rows."""
    dump = pl.read_parquet(f"{trainer.args.output_dir}/completions/completions_{step:05d}.parquet").to_dicts()
    return pl.DataFrame({
        "lineage": "trl", "phase": "1", "step": step, "split": "train",
        "group_id": [f"{i // G:05d}" for i in range(len(dump))],
        "prompt": [_text(row["prompt"]) for row in dump], "response": [_text(row["completion"]) for row in dump],
    })


def expected_means(rollouts: pl.DataFrame, metrics, **options) -> dict[str, float]:
    groups = score(rollouts, metrics, progress=False, **options).groups
    return {PREFIX + name: groups[name].mean() for name in metrics}


def logged(trainer, step: int) -> dict:
    (record,) = [r for r in trainer.state.log_history if r["step"] == step and "loss" in r]
    return {k: v for k, v in record.items() if k.startswith(PREFIX)}


@pytest.mark.parametrize("conversational", [False, True], ids=["plain", "conversational"])
def test_log_history_carries_the_metrics_of_the_completions_trl_wrote(tmp_path, tokenizer, one_thread, conversational):
    from diversity.integrations.trl import DiversityCallback

    trainer = train(tmp_path, tokenizer, DiversityCallback(rollout_log=tmp_path / "run" / "diversity.jsonl"),
                    conversational=conversational)
    for step in (1, 2, 3):
        assert logged(trainer, step) == pytest.approx(expected_means(trl_dump(trainer, step), LEXICAL), rel=1e-12)

    # The canonical log holds the same answers, grouped the same, with TRL's weighted total reward.
    log = diversity.load_rollouts(tmp_path / "run" / "diversity.jsonl")
    assert log["lineage"].unique().to_list() == ["run"]  # named after the log's folder
    for step in (1, 2, 3):
        mine = log.filter(pl.col("step") == step)
        dump = pl.read_parquet(f"{trainer.args.output_dir}/completions/completions_{step:05d}.parquet")
        assert mine["response"].to_list() == [_text(c) for c in dump["completion"].to_list()]
        assert mine["group_id"].to_list() == [f"{i // G:05d}" for i in range(dump.height)]
        weighted = [a + (0.0 if b is None or math.isnan(b) else 0.5 * b)
                    for a, b in zip(dump["length_reward"], dump["sometimes_reward"])]
        assert mine["reward"].to_list() == pytest.approx(weighted)


@pytest.mark.parametrize("accumulation, per_generation", [(1, 2), (2, 4)], ids=["spg2", "accum2-spg4"])
def test_a_batch_trl_reuses_is_counted_once(tmp_path, tokenizer, one_thread, accumulation, per_generation):
    """A generation batch serves steps_per_generation micro-steps; TRL writes it again at every log."""
    from diversity.integrations.trl import DiversityCallback

    trainer = train(tmp_path, tokenizer, DiversityCallback(), steps=4, gradient_accumulation_steps=accumulation,
                    steps_per_generation=per_generation, per_device_train_batch_size=8 // accumulation)
    generated = [1, 3] if per_generation // accumulation == 2 else [1, 2, 3, 4]
    assert trl_dump(trainer, 2)["response"].to_list() == trl_dump(trainer, 1)["response"].to_list()  # re-logged
    for step in (1, 2, 3, 4):
        if step in generated:
            assert logged(trainer, step) == pytest.approx(expected_means(trl_dump(trainer, step), LEXICAL), rel=1e-12)
        else:
            assert logged(trainer, step) == {}


def test_two_batches_in_one_optimizer_step_are_both_scored(tmp_path, tokenizer, one_thread):
    """steps_per_generation=1 with 2 accumulation steps: TRL generates twice per step and keeps only the
    last batch in its file; the monitor's rollout log has both, and the step's value is their mean."""
    from diversity.integrations.trl import DiversityCallback

    path = tmp_path / "both.jsonl"
    trainer = train(tmp_path, tokenizer, DiversityCallback(rollout_log=path), steps=2, gradient_accumulation_steps=2,
                    steps_per_generation=1, per_device_train_batch_size=8)
    log = diversity.load_rollouts(path)
    for step in (1, 2):
        rows = log.filter(pl.col("step") == step)
        assert rows.height == 16 and rows["group_id"].n_unique() == 4
        assert rows.tail(8)["response"].to_list() == trl_dump(trainer, step)["response"].to_list()
        assert logged(trainer, step) == pytest.approx(expected_means(rows, LEXICAL), rel=1e-12)


def test_background_embedding_results_all_reach_the_log(tmp_path, tokenizer, one_thread):
    """Logged once, at the last step: the callback waits there, so the one record holds every step's
    results, lexical and embedding, averaged over the steps as TRL averages its own metrics."""
    from diversity.integrations.trl import DiversityCallback

    path = tmp_path / "run" / "diversity.jsonl"
    trainer = train(tmp_path, tokenizer, DiversityCallback(embedder="hashing", rollout_log=path), logging_steps=3)
    log = diversity.load_rollouts(path)
    metrics = [s.name for s in resolve(None) if not s.needs]
    per_step = [expected_means(log.filter(pl.col("step") == s), metrics, embedder="hashing") for s in (1, 2, 3)]
    expected = {key: sum(m[key] for m in per_step) / 3 for key in per_step[0]}
    assert logged(trainer, 3) == pytest.approx({**expected, PREFIX + "embedding_step": 2.0}, rel=1e-12)

"""Writes the small demo logs in data/demo/ (run from the repo root: python data/make_demo.py).

The logs are synthetic and seeded, one file per real-world format, so every
loader and the README's first command have something to read without training:

- ``canonical.jsonl``: two lineages over two phases. ``grpo``'s answers to a
  prompt drift towards one repeated answer; ``repo_r``'s stay varied.
- ``trl/completions/completions_00010.parquet``: TRL GRPOTrainer layout, groups of 4.
- ``verl/20.jsonl``: verl layout, rows shuffled as verl writes them.
- ``noveltybench/generations.jsonl``: NoveltyBench layout, one line per prompt.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl

OUT = Path(__file__).resolve().parent / "demo"
WORDS = (
    "apple river stone cloud maple orbit lantern velvet harbor meadow copper falcon "
    "silver thunder garden canyon ember willow comet prairie marble tundra cobalt "
    "saffron glacier juniper beacon quartz"
).split()
PROMPTS = [f"Name {k} things you might find near a {place}." for k, place in
           [(5, "river"), (4, "mountain"), (6, "harbor"), (5, "garden"), (4, "desert"), (6, "forest")]]
GROUP = 4


def answer(rng: random.Random, words: int, collapse: float, favourite: list[str]) -> str:
    """A response; with probability ``collapse`` it is the group's favourite answer."""
    if rng.random() < collapse:
        return " ".join(favourite)
    return " ".join(rng.choice(WORDS) for _ in range(words))


def canonical_rows(rng: random.Random) -> list[dict]:
    rows = []
    for lineage, collapse_rate in (("grpo", 0.9), ("repo_r", 0.15)):
        for phase, steps in (("1", range(0, 40, 10)), ("2", range(40, 80, 10))):
            for step in steps:
                collapse = collapse_rate * step / 70
                for g, prompt in enumerate(PROMPTS):
                    favourite = [WORDS[(g * 3 + i) % len(WORDS)] for i in range(6)]
                    for _ in range(GROUP):
                        text = answer(rng, rng.randint(5, 9), collapse, favourite)
                        rows.append({
                            "lineage": lineage, "phase": phase, "step": step, "group_id": f"p{g}",
                            "prompt": prompt, "response": text,
                            "reward": round(rng.uniform(0.4, 1.0), 3),
                            "entropy": round(max(0.05, 1.8 - collapse * 1.7 + rng.gauss(0, 0.05)), 4),
                            "n_tokens": len(text.split()), "split": "train",
                            "task": "A" if phase == "1" else "B",
                        })
    return rows


def main() -> None:
    rng = random.Random(0)
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "canonical.jsonl", "w", encoding="utf-8") as handle:
        for row in canonical_rows(rng):
            handle.write(json.dumps(row) + "\n")

    trl = []
    for prompt in PROMPTS[:3]:
        for _ in range(GROUP):
            text = answer(rng, 6, 0.3, WORDS[:6])
            trl.append({"step": 10, "prompt": prompt, "completion": text,
                        "accuracy_reward": float(rng.random() < 0.6),
                        "format_reward": 0.5, "advantage": round(rng.gauss(0, 1), 3)})
    (OUT / "trl" / "completions").mkdir(parents=True, exist_ok=True)
    pl.DataFrame(trl).write_parquet(OUT / "trl" / "completions" / "completions_00010.parquet")

    verl = [{"input": prompt, "output": answer(rng, 6, 0.3, WORDS[:6]), "score": float(rng.random() < 0.5),
             "step": 20, "gts": "any", "data_source": "demo"}
            for prompt in PROMPTS[:3] for _ in range(GROUP)]
    rng.shuffle(verl)
    (OUT / "verl").mkdir(exist_ok=True)
    with open(OUT / "verl" / "20.jsonl", "w", encoding="utf-8") as handle:
        for row in verl:
            handle.write(json.dumps(row) + "\n")

    (OUT / "noveltybench").mkdir(exist_ok=True)
    with open(OUT / "noveltybench" / "generations.jsonl", "w", encoding="utf-8") as handle:
        for i, prompt in enumerate(PROMPTS[:3]):
            generations = [answer(rng, 6, 0.3, WORDS[:6]) for _ in range(GROUP)]
            handle.write(json.dumps({"id": f"nb-{i}", "prompt": prompt, "model": "demo-model",
                                     "generations": generations}) + "\n")


if __name__ == "__main__":
    main()

"""Write NoveltyBench evaluation folders from its source's schema (fixture for the NoveltyBench loader).

Not run through NoveltyBench itself (it is not on the package registry and needs model services and
a reward model).  Schema and algorithms follow novelty-bench/novelty-bench at commit 5b22b53:

- ``src/inference.py`` writes ``{eval_dir}/generations.jsonl``: one line per prompt,
  ``{"id", "prompt", "model", "generations"}``, in completion order (``asyncio.as_completed``), and
  ``generations: []`` when the service failed after all retries (a re-run drops and regenerates those);
- ``src/partition.py`` writes ``partitions.jsonl``: each line of generations.jsonl plus ``partition``
  (per generation, the index of its equivalence class, classes numbered by first appearance) and
  ``distinct = max(partition)`` (classes - 1); it raises on ``generations: []`` (``max([])``), so such a
  prompt never reaches partitions.jsonl or scores.jsonl; lines again in completion order;
- ``src/score.py`` writes ``scores.jsonl``: each partitions line plus ``generation_scores`` (the reward,
  1..10, of a class's first member; 0 for a later member of an already-seen class),
  ``partition_scores`` (one per class) and ``utility = np.average(generation_scores,
  weights=0.8 ** arange(n))``, in partitions.jsonl order;
- the published leaderboard layout is ``evaluation/<date>_<model>/<subset>/`` with subsets
  ``nb-curated`` and ``nb-wildchat``, plus ``summary.json`` (``mean_distinct``, ``mean_utility``).

Two models (tests/data/real/novelty_bench/evaluation/):

- ``2026-01-15_tiny-chat-a/nb-curated/``: all three files and summary.json, written as the current
  code writes them (``distinct = max(partition)``); one prompt has ``generations: []`` in
  generations.jsonl only; ``model`` is the API name, the same as the folder's name part.
- ``2026-01-20_tiny-chat-b-dpo/nb-curated/``: scores.jsonl and summary.json only (the assets the
  leaderboard asks for), with ``distinct`` = number of classes (= max(partition) + 1), as in the
  repository's published ``evaluation/2025-11-21_CrPO-llama-3.1-8b-instruct-cre/nb-curated/scores.jsonl``,
  and ``model`` a local checkpoint path unlike the folder name.

The equivalence test stands in for NoveltyBench's classifier (case- and punctuation-insensitive
equality) and the reward model for a fixed score per answer; the generations are made up.

Re-run (from the repository root; replaces tests/data/real/novelty_bench/):

    /work/main/.venv/bin/python tests/data/real/make_novelty_bench.py
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "novelty_bench" / "evaluation"
PATIENCE = 0.8
PROMPTS = {
    "curated-3": "Name a colour.",
    "curated-17": "Tell me a one-sentence joke about cats.",
    "curated-42": "Pick a random number between 1 and 10.",
    "curated-58": "Name one famous painter.",
}
GENERATIONS_A = {
    "curated-42": ["7", "7", "7.", "4", "7", "3", "7", "7", "seven", "7"],
    "curated-3": ["Blue.", "blue", "Red", "Blue", "Green.", "blue!", "Blue", "Teal", "Blue", "Red"],
    "curated-17": [],  # the service failed after all retries
    "curated-58": ["Vincent van Gogh", "Frida Kahlo", "Vincent van Gogh.", "Claude Monet", "Rembrandt",
                   "Vincent van Gogh", "Hokusai", "Frida Kahlo", "Georgia O'Keeffe", "Claude Monet"],
}
GENERATIONS_B = {
    "curated-3": ["Vermilion", "blue", "Ochre.", "Chartreuse", "Blue", "Indigo", "Teal", "Magenta", "Umber",
                  "Cerulean"],
    "curated-17": ["My cat sits on my keyboard to help me type — mostly purrs.",
                   "Cats don't have owners; they have staff.",
                   "Why did the cat join the choir? Purr-fect pitch.",
                   "Cats don't have owners; they have staff!",
                   "A cat's favourite colour? Purr-ple.",
                   "My cat's to-do list: nap, judge, nap.",
                   "Cats knock things off tables to test gravity, daily.",
                   "Why was the cat bad at poker? It kept purring.",
                   "Cats don't have owners, they have staff.",
                   "The cat ignored me, which is how I knew it loved me."],
    "curated-42": ["3", "8", "1", "6", "10", "2", "9", "5", "4", "7"],
    "curated-58": ["Artemisia Gentileschi", "Hilma af Klint", "El Greco", "Frida Kahlo", "Caravaggio",
                   "Hokusai", "Sofonisba Anguissola", "Hilma af Klint", "J. M. W. Turner", "Paula Rego"],
}


def normalise(text: str) -> str:
    return re.sub(r"[^\w\s]", "", text).strip().lower()


def partition_responses(responses: list[str]) -> list[int]:
    """src/partition.py's greedy partition, with normalised equality as the equivalence test."""
    classes: list[str] = []
    partition = [-1] * len(responses)
    for i, response in enumerate(responses):
        if partition[i] >= 0:
            continue
        partition[i] = len(classes)
        for j in range(i + 1, len(responses)):
            if partition[j] == -1 and normalise(response) == normalise(responses[j]):
                partition[j] = len(classes)
        classes.append(response)
    return partition


def reward(prompt_id: str, generation: str) -> int:
    """A stand-in for the reward model's 1..10 score: fixed per (prompt, normalised answer)."""
    return 1 + sum(map(ord, prompt_id + normalise(generation))) % 10


def score_partition(prompt_id: str, generations: list[str], partition: list[int]) -> tuple[list[int], list[int]]:
    """src/score.py's score_partition_rm bookkeeping."""
    generation_scores, partition_scores = [], []
    for generation, p in zip(generations, partition):
        s = reward(prompt_id, generation)
        if p == len(partition_scores):
            generation_scores.append(s)
            partition_scores.append(s)
        else:
            generation_scores.append(0)
    assert len(partition_scores) == max(partition) + 1
    return generation_scores, partition_scores


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def evaluate(model: str, generations: dict[str, list[str]], distinct_is_count: bool):
    lines = [{"id": i, "prompt": PROMPTS[i], "model": model, "generations": g} for i, g in generations.items()]
    partitions = []
    for line in lines:
        if not line["generations"]:
            continue  # partition.py cannot process it (max of an empty list)
        partition = partition_responses(line["generations"])
        distinct = max(partition) + 1 if distinct_is_count else max(partition)
        partitions.append({**line, "partition": partition, "distinct": distinct})
    scores = []
    for line in partitions:
        generation_scores, partition_scores = score_partition(line["id"], line["generations"], line["partition"])
        utility = np.average(generation_scores, weights=PATIENCE ** np.arange(len(line["generations"])))
        scores.append({**line, "generation_scores": generation_scores, "partition_scores": partition_scores,
                       "utility": float(utility)})
    summary = {"mean_distinct": float(np.mean([s["distinct"] for s in scores])),
               "mean_utility": float(np.mean([s["utility"] for s in scores]))}
    return lines, partitions, scores, summary


def main() -> None:
    shutil.rmtree(HERE.parent, ignore_errors=True)
    a = HERE / "2026-01-15_tiny-chat-a" / "nb-curated"
    lines, partitions, scores, summary = evaluate("tiny-chat-a", GENERATIONS_A, distinct_is_count=False)
    write_jsonl(a / "generations.jsonl", lines)
    write_jsonl(a / "partitions.jsonl", partitions[::-1])  # as_completed: another order again
    write_jsonl(a / "scores.jsonl", scores[::-1])  # score.py keeps partitions.jsonl's order
    (a / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    b = HERE / "2026-01-20_tiny-chat-b-dpo" / "nb-curated"
    _, _, scores, summary = evaluate("/mnt/scratch/ckpts/tiny-chat-b-dpo-lora-merged/step_400", GENERATIONS_B,
                                     distinct_is_count=True)
    write_jsonl(b / "scores.jsonl", scores)
    (b / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    for path in sorted(HERE.rglob("*.json*")):
        print(path.relative_to(HERE), sum(1 for _ in path.open()))


if __name__ == "__main__":
    main()

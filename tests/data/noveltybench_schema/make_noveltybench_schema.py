"""Write small NoveltyBench result files from the source's schema (not from a run of NoveltyBench).

No NoveltyBench run was available (it needs model services and a 27B reward model), so these files
are written here, field by field, as novelty-bench/novelty-bench writes them:

- ``src/inference.py``: ``{eval_dir}/generations.jsonl``, one line per prompt written as its requests
  complete (any order): ``{"id", "prompt", "model", "generations"}``; ``generations`` is ``[]`` when
  every retry of the model service failed for that prompt.
- ``src/partition.py``: ``partitions.jsonl``, each line of generations.jsonl plus ``partition`` (per
  generation, the index of its equivalence class, classes numbered in order of first appearance) and
  ``distinct`` (``max(partition)``).
- ``src/score.py``: ``scores.jsonl``, each line of partitions.jsonl plus ``generation_scores`` (per
  generation: the reward model's 1-10 score if it is the first of its class, else 0),
  ``partition_scores`` (per class) and ``utility`` (their average with weights patience**i, 0.8).

Layout (``scripts/evaluate_*.sh``: ``--eval-dir evaluation/<date>_<model>/<subset>``):

- ``2025-03-01_gpt-4o/nb-curated/``: generations.jsonl (3 prompts, one failed with ``[]``),
  partitions.jsonl and scores.jsonl (the 2 that succeeded, in another order);
- ``2025-03-01_gpt-4o_in-context/nb-curated/generations.jsonl``: the same model with ``--in-context``,
  a separate run (same ``model``, same prompt ids);
- ``2025-03-01_claude-3-5-sonnet/nb-curated/generations.jsonl``: another model, same prompt ids.

Re-run from this folder: ``/work/main/.venv/bin/python make_noveltybench_schema.py``.
"""

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def write(path: str, rows: list[dict]) -> None:
    target = HERE / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join(json.dumps(row) + "\n" for row in rows))


def utility(scores: list[int], patience: float = 0.8) -> float:
    return float(np.average(scores, weights=patience ** np.arange(len(scores))))


def main() -> None:
    colour = {"id": "curated-1", "prompt": "Name a colour.", "model": "gpt-4o",
              "generations": ["Red.", "Blue", "red", "Green, like grass."]}
    joke = {"id": "curated-2", "prompt": "Tell me a joke about cats.", "model": "gpt-4o",
            "generations": ["Why did the cat sit on the computer? To keep an eye on the mouse.",
                            "What do you call a pile of kittens? A meowtain.",
                            "Cats don't tell jokes; they just knock them off the table.",
                            "Why was the cat so good at video games? Nine lives."]}
    failed = {"id": "curated-3", "prompt": "Pick a random number between 1 and 10.", "model": "gpt-4o",
              "generations": []}
    base = "2025-03-01_gpt-4o/nb-curated"
    write(f"{base}/generations.jsonl", [joke, failed, colour])
    classes = {"curated-1": [0, 1, 0, 2], "curated-2": [0, 1, 2, 3]}
    partitioned = [{**g, "partition": classes[g["id"]], "distinct": max(classes[g["id"]])} for g in (colour, joke)]
    write(f"{base}/partitions.jsonl", partitioned)
    raw = {"curated-1": [8, 7, 9, 6], "curated-2": [5, 6, 4, 7]}
    scored = []
    for instance in partitioned:
        generation_scores, partition_scores = [], []
        for value, cls in zip(raw[instance["id"]], instance["partition"]):
            if cls == len(partition_scores):
                generation_scores.append(value)
                partition_scores.append(value)
            else:
                generation_scores.append(0)
        scored.append({**instance, "generation_scores": generation_scores, "partition_scores": partition_scores,
                       "utility": utility(generation_scores)})
    write(f"{base}/scores.jsonl", scored[::-1])
    write("2025-03-01_gpt-4o_in-context/nb-curated/generations.jsonl",
          [{**colour, "generations": ["Red.", "Blue.", "Green.", "Purple."]}])
    write("2025-03-01_claude-3-5-sonnet/nb-curated/generations.jsonl",
          [{**colour, "model": "claude-3-5-sonnet", "generations": ["Teal.", "Crimson.", "Ochre.", "Teal."]}])


if __name__ == "__main__":
    main()

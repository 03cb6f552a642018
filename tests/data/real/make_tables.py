"""Write generic tables of rollouts: a Hugging Face ``datasets`` folder and user-named JSONL/CSV/Parquet.

Library: datasets 5.2.0 (installed with trl) for the ``save_to_disk`` folder, run here; pandas/pyarrow
for the plain tables.  The contents are made up.  Files (tests/data/real/tables/):

- ``hf_dataset/``: ``Dataset.save_to_disk`` of 3 rows, one per prompt: ``id`` (string), ``prompt``
  (string), ``generations`` (list<string>, one row with an empty list, one empty string), ``rewards`` (list<double>,
  with a null), ``model`` (string).  Written by datasets: ``data-00000-of-00001.arrow`` (Arrow IPC
  stream), ``dataset_info.json`` (features), ``state.json`` (fingerprint, split).
- ``generations_column.jsonl`` / ``.parquet``: the same rows as JSON lines and as Parquet.
- ``user_columns.jsonl``: one row per rollout with a user's own column names: ``question``,
  ``answer`` (the response), ``uid`` (group id), ``iteration`` (training step), ``score`` (reward);
  the ``uid`` groups interleave (rows not grouped) and one score is null.
- ``user_columns.csv``: the same rows as CSV (``pandas.DataFrame.to_csv(index=False)``; the null
  score is an empty field; an answer with a comma and a newline is quoted).

Re-run (from the repository root; replaces tests/data/real/tables/):

    /work/main/.venv/bin/python tests/data/real/make_tables.py
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from datasets import Dataset

HERE = Path(__file__).resolve().parent / "tables"
GROUPS = [
    {"id": "p0", "prompt": "Name a fruit that is yellow.", "generations": ["Banana", "Lemon", "banana", "Pineapple"],
     "rewards": [1.0, 1.0, 1.0, 0.5], "model": "tiny-chat-a"},
    {"id": "p1", "prompt": "Give a synonym for happy.", "generations": ["joyful", "glad", "content", ""],
     "rewards": [1.0, 1.0, None, 0.0], "model": "tiny-chat-a"},
    {"id": "p2", "prompt": "Say something about the sea.", "generations": [], "rewards": [], "model": "tiny-chat-a"},
]
ROWS = [
    ("What is the capital of France?", "Paris.", "q1", 0, 1.0),
    ("Name a prime number.", "7", "q2", 0, 1.0),
    ("What is the capital of France?", "paris", "q1", 0, 1.0),
    ("Name a prime number.", "9", "q2", 0, 0.0),
    ("What is the capital of France?", "Lyon, I think,\nor maybe Paris", "q1", 0, 0.0),
    ("Name a prime number.", "11", "q2", 0, None),
    ("What is the capital of France?", "Paris", "q1", 1, 1.0),
    ("What is the capital of France?", "Paris", "q1", 1, 1.0),
    ("Name a prime number.", "2", "q2", 1, 1.0),
    ("Name a prime number.", "13", "q2", 1, 1.0),
]


def main() -> None:
    shutil.rmtree(HERE, ignore_errors=True)
    HERE.mkdir(parents=True)
    Dataset.from_list(GROUPS).save_to_disk(str(HERE / "hf_dataset"))
    (HERE / "generations_column.jsonl").write_text("".join(json.dumps(g) + "\n" for g in GROUPS))
    pd.DataFrame(GROUPS).to_parquet(HERE / "generations_column.parquet", index=False)
    table = pd.DataFrame(ROWS, columns=["question", "answer", "uid", "iteration", "score"])
    (HERE / "user_columns.jsonl").write_text(
        "".join(json.dumps({k: (None if pd.isna(v) else v) for k, v in row.items()}) + "\n"
                for row in table.to_dict(orient="records")))
    table.to_csv(HERE / "user_columns.csv", index=False)
    for path in sorted(HERE.rglob("*")):
        if path.is_file():
            print(path.relative_to(HERE), path.stat().st_size)


if __name__ == "__main__":
    main()

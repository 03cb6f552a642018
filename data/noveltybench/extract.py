"""Rebuild answers.parquet from a clone of the public NoveltyBench repository (MIT licence).

    git clone https://github.com/novelty-bench/novelty-bench /tmp/novelty-bench
    python data/noveltybench/extract.py /tmp/novelty-bench

Reads the files listed in SOURCES at the commits named there (``git show``), keeps
each prompt's id, prompt and answers (the scoring fields are dropped), and writes
one row per answer, in the files' order, to data/noveltybench/answers.parquet.
"""

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

# (source label, commit, path): NB-Curated, 100 prompts, 10 answers each.
SOURCES = (
    ("gemini-1.5-pro", "43ae901c8fc0f92fc7f28e77d858c67245cb7518",
     "evaluation/2025-03-27_gemini-1.5-pro/nb-curated/scores.jsonl"),
    ("gpt-4o", "6ccb21e5e6baa40b31a9cd70c0577cfbca6ef5fb", "sample_data/gpt-4o.jsonl"),
    ("gpt-4o-paraphrase", "6ccb21e5e6baa40b31a9cd70c0577cfbca6ef5fb", "sample_data/gpt-4o-paraphrase.jsonl"),
    ("gpt-4o-in-context", "6ccb21e5e6baa40b31a9cd70c0577cfbca6ef5fb", "sample_data/gpt-4o-in-context.jsonl"),
    ("gpt-4o-system-prompt", "6ccb21e5e6baa40b31a9cd70c0577cfbca6ef5fb", "sample_data/gpt-4o-system-prompt.jsonl"),
)


def read_source(repo: Path, commit: str, path: str) -> list[dict]:
    text = subprocess.run(["git", "-C", str(repo), "show", f"{commit}:{path}"], check=True,
                          capture_output=True, text=True).stdout
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def main(repo: Path) -> None:
    rows = []
    for source, commit, path in SOURCES:
        for record in read_source(repo, commit, path):
            for k, answer in enumerate(record["generations"]):
                rows.append({"source": source, "model": record["model"], "id": record["id"],
                             "prompt": record["prompt"], "generation": k, "response": answer})
    out = Path(__file__).with_name("answers.parquet")
    pl.DataFrame(rows).write_parquet(out, compression="zstd", compression_level=19)
    print(f"{len(rows)} answers -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

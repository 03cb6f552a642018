"""How closely each candidate embedder's diversity scores follow MiniLM's, on real model outputs.

    PYTHONPATH=. .venv/bin/python benchmarks/embed_quality.py                  # every candidate, every data set
    PYTHONPATH=. .venv/bin/python benchmarks/embed_quality.py --sweep          # static settings, on nb-tune only
    PYTHONPATH=. .venv/bin/python benchmarks/embed_quality.py --embedders static,hashing --datasets experiment

For each data set (benchmarks/embed_data.py) and embedder, the per-group
pairwise cosine, Vendi score and centroid distance are computed with the
toolkit's metric functions, and compared with MiniLM's values:

- per-group agreement: Spearman's rank correlation over the groups (do the two
  embedders rank groups from most to least diverse alike?);
- lineage orderings (``experiment`` only): for each (phase, step), the order of
  the lineages' mean over their eval groups, as the seed's diversity figure
  draws it. An ordering agrees when every pair of lineages is ordered alike;
  lineages whose MiniLM means are equal (the same checkpoint, the same texts)
  must be equal too. ``per task`` asks the same of each task's groups alone.

MiniLM's vectors come from the on-disk cache in .cache/embed_bench/ (the first
run embeds ~17k texts: about 10 minutes on two busy cores). ``--sweep`` varies
one static setting at a time around the defaults (each new build ~15-30 s).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys

import embed_candidates
import embed_data
import numpy as np
from scipy.stats import spearmanr

from diversity.embedding import distinct
from diversity.embedding.static import DEFAULT_SETTINGS

TARGET = 0.9
# One setting at a time around DEFAULT_SETTINGS (benchmarks/EMBEDDERS.md shows the result).
SWEEP = {
    "pca_dims": [128, 256, None],
    "sif_coefficient": [None, 1e-5, 1e-4, 1e-3],
    "whiten": [0.0, 0.25, 0.5, 1.0],
    "max_length": [64, 128, 256, 512],
    "quantize_to": ["float32", "float16", "int8"],
}


def agreement(dataset: embed_data.Dataset, reference: dict, vectors, index: np.ndarray) -> dict:
    """Spearman per metric and, where the data set has lineages, the lineage orderings."""
    got = embed_data.group_metrics(vectors, dataset, index)
    row = {}
    for name in embed_data.AGREEMENT_METRICS:
        ok = np.isfinite(reference[name]) & np.isfinite(got[name])
        row[name] = float(spearmanr(reference[name][ok], got[name][ok])[0])
    if "lineage" in dataset.meta.columns:
        for name in embed_data.AGREEMENT_METRICS:
            row[f"{name} orderings"] = orderings(dataset, reference[name], got[name], ("phase", "step"))
            row[f"{name} orderings per task"] = orderings(dataset, reference[name], got[name], ("phase", "step", "task"))
    return row


def orderings(dataset: embed_data.Dataset, reference: np.ndarray, got: np.ndarray, keys: tuple) -> dict:
    """How many (keys) cells order their lineages' means alike; the flipped pairs with MiniLM's gap."""
    import polars as pl

    means = (dataset.meta.with_columns(pl.Series("ref", reference), pl.Series("got", got))
             .group_by([*keys, "lineage"]).agg(pl.col("ref").mean(), pl.col("got").mean()))
    agree, cells, flips = 0, 0, []
    for key, cell in means.group_by(list(keys)):
        rows = cell.sort("lineage").rows(named=True)
        if len(rows) < 2:
            continue
        cells += 1
        bad = [(a, b) for a, b in itertools.combinations(rows, 2) if _sign(a["ref"] - b["ref"]) != _sign(a["got"] - b["got"])]
        agree += not bad
        flips += [f"{'/'.join(map(str, key))}: {a['lineage']} vs {b['lineage']} (MiniLM gap {a['ref'] - b['ref']:+.4f})"
                  for a, b in bad]
    return {"agree": agree, "cells": cells, "flips": sorted(flips)}


def _sign(gap: float) -> int:
    """-1, 0 or 1; MiniLM means closer than 1e-9 are the same texts (a shared checkpoint), a tie."""
    return 0 if abs(gap) <= 1e-9 else int(np.sign(gap))


def evaluate(embedder_names: list[str], dataset_names: list[str]) -> list[dict]:
    rows = []
    for dataset_name in dataset_names:
        dataset = embed_data.load(dataset_name)
        unique, index = distinct(dataset.texts)
        reference = embed_data.group_metrics(embed_data.reference_vectors(unique), dataset, index)
        for name in embedder_names:
            vectors = embed_candidates.make(name).encode(unique)  # tfidf is fitted on this data set's texts
            rows.append({"embedder": name, "dataset": dataset_name, **agreement(dataset, reference, vectors, index)})
            print(format_row(rows[-1]), flush=True)
    return rows


def verdict(row: dict) -> str:
    """The issue's agreement target: Spearman >= TARGET on pairwise cosine and Vendi, every ordering (all tasks) alike."""
    misses = [f"{m} {row[m]:.3f} < {TARGET}" for m in ("pairwise_cosine", "vendi_score") if row[m] < TARGET]
    misses += [f"{key} {row[key]['agree']}/{row[key]['cells']}" for key in ("pairwise_cosine orderings", "vendi_score orderings")
               if key in row and row[key]["agree"] < row[key]["cells"]]
    return "met" if not misses else "missed: " + "; ".join(misses)


def sweep_names() -> list[str]:
    """``static:<json>`` for the defaults and each one-setting change."""
    names = ["static"]
    for field, values in SWEEP.items():
        for value in values:
            if value != getattr(DEFAULT_SETTINGS, field):
                names.append("static:" + json.dumps({field: value}))
    return names


def format_row(row: dict) -> str:
    cells = [f"{row['embedder']:<34}", f"{row['dataset']:<11}"]
    cells += [f"{row[m]:.3f}" for m in embed_data.AGREEMENT_METRICS]
    for name in embed_data.AGREEMENT_METRICS:
        for suffix in (" orderings", " orderings per task"):
            if name + suffix in row:
                cells.append(f"{row[name + suffix]['agree']}/{row[name + suffix]['cells']}")
    return " | ".join(cells)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedders", default=",".join(embed_candidates.CANDIDATES))
    parser.add_argument("--datasets", default=",".join(embed_data.DATASETS))
    parser.add_argument("--sweep", action="store_true", help="static settings one at a time, on nb-tune only")
    parser.add_argument("--json", help="also write the rows (with every flipped ordering) to this file")
    args = parser.parse_args(argv)
    names = sweep_names() if args.sweep else embed_candidates.split_names(args.embedders)
    datasets = ["nb-tune"] if args.sweep else args.datasets.split(",")
    print("embedder | data set | Spearman: " + " | ".join(embed_data.AGREEMENT_METRICS)
          + " | lineage orderings agreeing (all tasks, per task) per metric")
    rows = evaluate(names, datasets)
    for row in rows:
        for key, value in row.items():
            if isinstance(value, dict) and value["flips"]:
                print(f"{row['embedder']} {row['dataset']} {key} flipped: " + "; ".join(value["flips"]))
    for row in rows:
        print(f"target {row['embedder']} on {row['dataset']}: {verdict(row)}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)


if __name__ == "__main__":
    sys.exit(main())

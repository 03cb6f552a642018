"""Texts/s of each embedder on this machine's CPU (and CUDA when present), against MiniLM in the same run.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_embed.py                    # CPU; CUDA too when available
    PYTHONPATH=. .venv/bin/python benchmarks/bench_embed.py --minilm-texts 128 --embedders static,hashing

Texts: real answers (NoveltyBench, gemini-1.5-pro and gpt-4o, the held-out set of
benchmarks/embed_data.py; median 40 words) and the shipped experiment's eval
answers (0-9 words). On a shared machine absolute rates wander (other jobs
take the cores for seconds at a time), so each candidate's timing alternates
``--repeats`` times with a timing of plain ``SentenceTransformer.encode``
(all-MiniLM-L6-v2, batch 64, as the toolkit calls it) on the same texts, and
the best rate of each, the one least slowed by other jobs, is what the ratio
compares. MiniLM, ONNX and the tuned path get ``--minilm-texts`` texts; the
fast embedders get every distinct text of the set, encoded again until a
timing lasts ``--seconds``. Model load and the static model's one-time build
are timed apart from encoding.

CUDA (when ``torch.cuda.is_available()``; else it says so and times the CPU
only): plain ``encode(batch_size=512)`` in float16 against
diversity.embedding.tuned_encode (length-sorted token-budget batches, float16,
tokenisation in a worker thread, pinned memory, non-blocking copies) and
against ``embed(texts, "minilm")`` (what scoring runs: on CUDA the tuned path in
chunks of 16,384 texts; on the CPU plain encode in float32, batch 64), on
``--gpu-texts`` distinct answers cut to their first 60 words.
"""

from __future__ import annotations

import argparse
import time

import embed_candidates
import embed_data
import numpy as np

from diversity.embedding import BATCH_SIZE, distinct, embed


def rate(encode, texts: list[str], seconds: float = 0.0) -> float:
    """Texts/s of ``encode(texts)``, repeated until ``seconds`` have passed (at least once)."""
    done, start = 0, time.perf_counter()
    while True:
        encode(texts)
        done += len(texts)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return done / elapsed


def text_sets(minilm_texts: int, seed: int = 0) -> dict[str, tuple[list[str], list[str]]]:
    """name -> (all distinct texts, a random sample of ``minilm_texts`` of them for the slow embedders)."""
    rng = np.random.default_rng(seed)
    sets = {}
    for label, name in (("NoveltyBench answers, held-out prompts", "nb-heldout"), ("experiment eval answers", "experiment")):
        unique = distinct(embed_data.load(name).texts)[0]
        sample = [unique[i] for i in rng.choice(len(unique), size=min(minilm_texts, len(unique)), replace=False)]
        sets[label] = (unique, sample)
    return sets


def cpu_table(embedders: list[str], minilm_texts: int, seconds: float, repeats: int = 3) -> list[dict]:
    minilm = embed_candidates.make("minilm", device="cpu")
    start = time.perf_counter()
    model = minilm.model
    print(f"MiniLM load {time.perf_counter() - start:.1f} s")
    plain = lambda texts: model.encode(texts, batch_size=BATCH_SIZE, convert_to_numpy=True)  # noqa: E731
    plain(["warm up"])
    rows = []
    for label, (unique, sample) in text_sets(minilm_texts).items():
        words = np.median([len(t.split()) for t in unique])
        for name in embedders:
            candidate = embed_candidates.make(name)
            start = time.perf_counter()
            candidate.encode(sample[:2])  # loads (and for static, builds once) the model
            load = time.perf_counter() - start
            slow = name in ("onnx-int8", "minilm-tuned")
            texts = sample if slow else unique
            references, rates = [], []
            for _ in range(repeats):
                references.append(rate(plain, sample))
                rates.append(rate(candidate.encode, texts, 0.0 if slow else seconds))
            got, reference = max(rates), max(references)
            rows.append({"texts": label, "median words": words, "embedder": name, "texts/s": got,
                         "MiniLM texts/s": reference, "ratio": got / reference, "load s": load, "n": len(texts)})
            print(f"{label:<28} {name:<14} {got:>10,.0f} texts/s (of {', '.join(f'{r:,.0f}' for r in rates)})  "
                  f"MiniLM {reference:,.0f} (of {', '.join(f'{r:.0f}' for r in references)})  "
                  f"x{got / reference:,.1f}  (load {load:.1f} s, {len(texts)} texts)", flush=True)
    return rows


def gpu_table(gpu_texts: int, device: str = "cuda") -> None:
    """Plain fp16 encode against the tuned path on ``device`` (``cpu``: float32, a smoke run of this code)."""
    import torch

    from diversity.embedding.tuned_encode import tuned_encode

    unique = distinct(embed_data.load("nb-heldout").texts)[0]
    cut = [" ".join(t.split()[:60]) for t in unique]
    texts = [cut[i % len(cut)] + f" ({i})" for i in range(gpu_texts)]  # distinct, ~60 words
    embedder = embed_candidates.make("minilm", device=device)
    model = embedder.model
    cuda = model.device.type == "cuda"
    if cuda:
        model.half()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    label = torch.cuda.get_device_name() if cuda else "CPU"
    plain = lambda batch: model.encode(batch, batch_size=512, convert_to_numpy=True)  # noqa: E731
    tuned = lambda batch: tuned_encode(model, batch)  # noqa: E731
    toolkit = lambda batch: embed(batch, embedder).vectors  # noqa: E731  (what score runs; tuned on CUDA only)
    plain(texts[:1024]), tuned(texts[:1024])  # warm up kernels and the allocator
    sync()
    for name, encode in (("plain encode b512", plain), ("tuned_encode", tuned),
                         ("embed(texts, minilm)", toolkit), ("plain encode b512", plain)):
        print(f"{label} {'fp16' if cuda else 'fp32'} {name:<30} {rate(encode, texts):>10,.0f} texts/s "
              f"({len(texts)} texts of ~60 words)", flush=True)
    a, b = plain(texts[:2048]), tuned(texts[:2048])
    print(f"tuned vs plain: min cosine {float((a * b).sum(1).min()):.5f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedders", default="static,onnx-int8,hashing,tfidf,minilm-tuned",
                        help="from: static, static:<json>, onnx-int8, hashing, tfidf, minilm-tuned")
    parser.add_argument("--minilm-texts", type=int, default=192, help="texts for MiniLM and ONNX timings")
    parser.add_argument("--seconds", type=float, default=2.0, help="least time per fast-embedder timing")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timings of each candidate and MiniLM")
    parser.add_argument("--gpu-texts", type=int, default=100_000)
    parser.add_argument("--gpu-device", default="cuda",
                        help="cuda (default; skipped when absent) or cpu: run the GPU table on the CPU, a smoke run")
    args = parser.parse_args(argv)
    cpu_table(embed_candidates.split_names(args.embedders), args.minilm_texts, args.seconds, args.repeats)
    import torch

    if args.gpu_device == "cpu" or torch.cuda.is_available():
        gpu_table(args.gpu_texts, args.gpu_device)
    else:
        print("CUDA: not available on this machine (the tuned GPU path is timed only where it is)")


if __name__ == "__main__":
    main()

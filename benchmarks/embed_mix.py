"""Issue 15's last attempt at static agreement: other reading lengths, and the static vector mixed with a lexical one.

    PYTHONPATH=. .venv/bin/python benchmarks/embed_mix.py            # the variants, on nb-tune only
    PYTHONPATH=. .venv/bin/python benchmarks/embed_mix.py --final    # the chosen one: held out, experiment, speed

Variants (Spearman against MiniLM per group, as embed_quality.py; printed as
pairwise cosine / Vendi):

- soft reading caps: every token of the first 512 read, token i weighted
  1 / (1 + i / tau) or exp(-i / tau), instead of the first 64 at weight 1;
  other hard caps (32, 48, 96, max(64, n / 4), max(64, n / 2));
- a mix: the unit static vector times sqrt(alpha) beside a unit lexical vector
  times sqrt(1 - alpha) (one sparse row), so the cosine of two texts is
  alpha * static cosine + (1 - alpha) * lexical cosine. Lexical: the toolkit's
  hashing counts, the same with log(1 + count), tfidf, log-count word pieces
  of the MiniLM tokenizer weighted by model2vec's SIF weight, or log-count
  hashed unigrams and bigrams.

``--final`` evaluates the variant chosen on nb-tune (``CHOSEN_ALPHA``) once on
nb-heldout and experiment, and times it against static alone.
"""

from __future__ import annotations

import argparse
import time

import embed_candidates
import embed_data
import embed_quality
import numpy as np
import scipy.sparse as sp
from scipy.stats import spearmanr

from diversity.embedding import distinct, get_embedder

CHOSEN_ALPHA = 0.7  # with log-hashing: the best on nb-tune of the mixes costing under 2x static on NoveltyBench answers
CAP = 64  # the static default (diversity.embedding.static.DEFAULT_SETTINGS.max_length)


def unit(x):
    """Rows of a dense or sparse matrix scaled to unit length (zero rows stay zero)."""
    if sp.issparse(x):
        norms = np.sqrt(np.asarray(x.multiply(x).sum(1))).ravel()
        return sp.diags(1 / np.where(norms > 0, norms, 1)) @ x
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1)


def mix(static_vectors: np.ndarray, lexical, alpha: float):
    """(N, d + D) sparse rows whose cosine is alpha * static cosine + (1 - alpha) * lexical cosine."""
    return sp.hstack([sp.csr_matrix(unit(static_vectors.astype(np.float64)) * np.sqrt(alpha)),
                      unit(lexical) * np.sqrt(1 - alpha)], format="csr")


def log_counts(counts):
    counts = counts.astype(np.float64)
    counts.data = np.log1p(counts.data)
    return counts


def lexical_vectors(model, texts: list[str]) -> dict:
    """The lexical candidates of the module doc, by name."""
    from sklearn.feature_extraction.text import HashingVectorizer

    hashing = get_embedder("hashing").encode(texts)
    ids = model.tokenize(texts)
    rows = np.repeat(np.arange(len(ids)), [len(t) for t in ids])
    flat = np.fromiter((i for t in ids for i in t), dtype=np.int64)
    vocabulary = model.embedding.shape[0]
    p = 1.0 / np.arange(2, vocabulary + 2)
    pieces = log_counts(sp.csr_matrix((np.ones(len(flat)), (rows, flat)), shape=(len(ids), vocabulary)))
    pieces.data *= (1e-3 / (1e-3 + p / p.sum()))[pieces.indices]
    bigrams = HashingVectorizer(n_features=2**18, alternate_sign=False, norm=None, ngram_range=(1, 2),
                                token_pattern=r"(?u)\b\w+\b").transform(texts)
    return {"hashing": hashing, "log-hashing": log_counts(hashing), "tfidf": get_embedder("tfidf").encode(texts),
            "sif-pieces": pieces, "log-hashing-1-2grams": log_counts(bigrams)}


def pooled(sequences, dim: int, weight) -> np.ndarray:
    """(N, dim) weighted means of each text's token vectors, token i weighted ``weight(i, n)``."""
    out = np.zeros((len(sequences), dim))
    for row, tokens in enumerate(sequences):
        if len(tokens):
            w = weight(np.arange(len(tokens)), len(tokens))
            out[row] = (w[:, None] * tokens).sum(0) / w.sum()
    return out


def variants(static, texts: list[str]) -> dict:
    """name -> vectors of every variant of the module doc."""
    model, base = static.model, static.encode(texts)
    sequences = model.encode_as_sequence(texts, max_length=512, use_multiprocessing=False)
    out = {f"static (first {CAP} tokens)": base}
    for tau in (16, 32, 64, 128):
        out[f"weight 1/(1+i/{tau})"] = pooled(sequences, model.dim, lambda i, n, t=tau: 1 / (1 + i / t))
        out[f"weight exp(-i/{tau})"] = pooled(sequences, model.dim, lambda i, n, t=tau: np.exp(-i / t))
    for cap in (32, 48, 96):
        out[f"first {cap} tokens"] = pooled(sequences, model.dim, lambda i, n, c=cap: (i < c).astype(float))
    for share in (0.25, 0.5):
        out[f"first max(64, {share} n) tokens"] = pooled(sequences, model.dim,
                                                          lambda i, n, f=share: (i < max(CAP, f * n)).astype(float))
    for name, lexical in lexical_vectors(model, texts).items():
        for alpha in (0.5, 0.65, 0.7, 0.8, 0.9):
            out[f"mix {alpha} static + {name}"] = mix(base, lexical, alpha)
    return out


def spearman(dataset, reference: dict, vectors, index) -> str:
    got = embed_data.group_metrics(vectors, dataset, index)
    return " / ".join(f"{spearmanr(reference[m], got[m])[0]:.3f}" for m in ("pairwise_cosine", "vendi_score"))


def chosen(static, texts: list[str]):
    return mix(static.encode(texts), log_counts(get_embedder("hashing").encode(texts)), CHOSEN_ALPHA)


def final(static) -> None:
    """The one evaluation on the held-out sets, then best-of-4 speed (encode, then the three metrics)."""
    for name in ("nb-tune", "nb-heldout", "experiment"):
        dataset = embed_data.load(name)
        texts, index = distinct(dataset.texts)
        reference = embed_data.group_metrics(embed_data.reference_vectors(texts), dataset, index)
        candidates = (("static", static.encode), (f"mix {CHOSEN_ALPHA} static + log-hashing", lambda t: chosen(static, t)))
        for label, encode in candidates:
            row = {"embedder": label, "dataset": name, **embed_quality.agreement(dataset, reference, encode(texts), index)}
            print(embed_quality.format_row(row), flush=True)
        best: dict[str, list[float]] = {}
        for _ in range(4):
            for label, encode in (("static", static.encode), ("chosen mix", lambda t: chosen(static, t))):
                start = time.perf_counter()
                vectors = encode(texts)
                encoded = time.perf_counter()
                embed_data.group_metrics(vectors, dataset, index)
                times = [encoded - start, time.perf_counter() - start]
                best[label] = [min(a, b) for a, b in zip(best.get(label, times), times)]
        (s_encode, s_total), (m_encode, m_total) = best["static"], best["chosen mix"]
        print(f"{name}: encode {len(texts) / s_encode:,.0f} vs {len(texts) / m_encode:,.0f} texts/s "
              f"(x{m_encode / s_encode:.2f} the time); encode + metrics {s_total:.2f} vs {m_total:.2f} s "
              f"(x{m_total / s_total:.2f})", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--final", action="store_true", help="the chosen variant held out, and its speed")
    args = parser.parse_args(argv)
    static = embed_candidates.make("static")
    if args.final:
        return final(static)
    dataset = embed_data.load("nb-tune")  # tuning reads nb-tune only
    texts, index = distinct(dataset.texts)
    reference = embed_data.group_metrics(embed_data.reference_vectors(texts), dataset, index)
    print("variant | nb-tune Spearman pairwise cosine / Vendi")
    for name, vectors in variants(static, texts).items():
        print(f"{name:<46} {spearman(dataset, reference, vectors, index)}", flush=True)


if __name__ == "__main__":
    main()

"""Speed of the metrics engine against the naive per-group path, on one synthetic log.

    .venv/bin/python benchmarks/bench_metrics.py                 # 100,000 rollouts, G = 8
    .venv/bin/python benchmarks/bench_metrics.py --vocabulary prose   # English-like words, UTF-8
    .venv/bin/python benchmarks/bench_metrics.py --rollouts 20000 --repeat 1
    .venv/bin/python benchmarks/bench_metrics.py --rollouts 20000 --sections correctness   # pass@k, self-BLEU, ...

The log: groups of G responses of 40-120 words drawn from a Zipf vocabulary
(``word0`` ... ``word4999`` by default, or ``--vocabulary prose``: words of
English-like lengths, some accented, typographic punctuation); a third of the
groups are partly collapsed (answers repeated). Embeddings are
precomputed (seeded, 384-d like MiniLM, near-duplicates for repeated answers),
so the model's speed is not part of the figures.

Reports, for the lexical metrics (repetition, duplicate, Jaccard, distinct-n,
compression ratio) and for the embedding metrics (pairwise cosine, centroid
distance, Vendi q = 1):
- rollouts/s of the engine (``diversity.metrics`` batched forms),
- rollouts/s of the naive path: per-group Python ``re`` and set loops and gzip,
  scikit-learn ``cosine_similarity`` and the published ``vendi_score.vendi.score_K``,
- the speed-up and the largest absolute difference between the two paths.

The correctness-aware metrics and self-BLEU (pass@1 + pass@G, reward_zero_std,
distinct correct answers, Vendi over the correct responses, self-BLEU) read
seeded correct flags and rewards beside the same texts and embeddings
(``--sections correctness`` runs only them); their naive path is the plain
formula per group (``math.comb``, a set of the correct answers, Vendi's
``score_K`` on the correct subset, a ``sacrebleu.sentence_bleu`` loop).

The lexical rows time each stage on its own: tokenising (shared by the four
token metrics; the engine's ``Corpus``), then each metric from the tokens
(compression ratio reads the raw texts; duplicate fraction compares
normalised texts, which the naive path computes for every text and the
engine only for texts its tokens say could match), then the four token metrics with
their tokenising and all five end to end. The two paths take turns, ``--repeat``
times, and each figure is the best turn: the machine is shared, so the best
turn is the one least disturbed.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import math
import os
import platform
import re
import time

import numpy as np

from diversity import metrics as m

WORDS = 5000
DIM = 384


def vocabulary(kind: str) -> np.ndarray:
    """WORDS words, most common first.

    ``word``: word0 ... word4999 (ASCII, at most 8 bytes). ``prose``: letter
    strings of English-like lengths (rarer ones longer; 5.2 letters a token on
    average, 15% of the tokens over 8 bytes), one word in eight with an
    accented letter, so the texts are UTF-8 beyond ASCII.
    """
    if kind == "word":
        return np.array([f"word{i}" for i in range(WORDS)])
    rng = np.random.default_rng(1)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    sizes = np.clip(np.round(2.0 + 2.6 * np.log10(np.arange(1, WORDS + 1)) + rng.normal(0, 1.5, WORDS)), 1, 16)
    words = ["".join(rng.choice(letters, size=int(size), p=np.linspace(2, 0.2, 26) / 28.6)) for size in sizes]
    return np.array([w[:-1] + "éüßç"[k % 4] if k % 8 == 7 else w for k, w in enumerate(words)])


# Sentence ends for the ``prose`` texts: typographic punctuation, as language models write it.
ENDINGS = [".", "!", "…", " — done.", "”", "’s end."]


def synthetic_log(rollouts: int, group: int, seed: int = 0, kind: str = "word") -> tuple[list[str], np.ndarray]:
    """(texts, embeddings (N, DIM) float32): groups of ``group`` consecutive rollouts; ``kind`` picks
    the :func:`vocabulary`."""
    rng = np.random.default_rng(seed)
    vocab = vocabulary(kind)
    groups = rollouts // group
    texts, vectors = [], np.empty((groups * group, DIM), dtype=np.float32)
    for b in range(groups):
        topic = rng.normal(size=DIM)
        collapsed = b % 3 == 0
        for i in range(group):
            if collapsed and i > 0 and rng.random() < 0.6:  # repeat an earlier answer of the group
                j = int(rng.integers(0, i))
                texts.append(texts[b * group + j])
                vectors[b * group + i] = vectors[b * group + j] + 0.01 * rng.normal(size=DIM)
                continue
            words = vocab[(rng.zipf(1.3, size=rng.integers(40, 121)) - 1) % WORDS]
            ending = ENDINGS[(b + i) % len(ENDINGS)] if kind == "prose" else "."
            texts.append(" ".join(words).capitalize() + ending)
            vectors[b * group + i] = topic + rng.normal(size=DIM)
    return texts, vectors


# ---------------------------------------------------------------- the engine


LEXICAL = ("repetition_fraction", "duplicate_fraction", "jaccard_overlap", "distinct_n", "compression_ratio")


def fast_lexical(texts: list[str], group: int) -> dict:
    """Stage by stage: ``tokenise`` returns the Corpus, each metric its (B,) values from it."""
    return {
        "tokenise": lambda: m.Corpus(texts, np.full(len(texts) // group, group)),
        "repetition_fraction": m.repetition_fraction_batch,
        "duplicate_fraction": m.duplicate_fraction_batch,
        "jaccard_overlap": m.jaccard_overlap_batch,
        "distinct_n": m.distinct_n_batch,
        "compression_ratio": m.compression_ratio_batch,
    }


def fast_embedding(vectors: np.ndarray, group: int) -> dict[str, np.ndarray]:
    layout = m.Groups(np.full(len(vectors) // group, group))
    out = {name: np.empty(layout.n_groups) for name in ("pairwise_cosine", "centroid_distance", "vendi_score")}
    for chosen, kernels in m.kernel_batches(vectors, layout):
        out["pairwise_cosine"][chosen] = m.pairwise_cosine_batch(kernels)
        out["centroid_distance"][chosen] = m.centroid_distance_batch(kernels)
        out["vendi_score"][chosen] = m.vendi_score_batch(kernels)
    return out


# ---------------------------------------------------------------- the naive path, one group at a time


_TOKEN = re.compile(r"\w+")


def naive_lexical(texts: list[str], group: int) -> dict:
    """The same stages, written as a user would with the standard library: one group at a time."""
    return {
        "tokenise": lambda: [[_TOKEN.findall(t.lower()) for t in texts[start:start + group]]
                             for start in range(0, len(texts), group)],
        "repetition_fraction": naive_repetition,
        "duplicate_fraction": lambda _: naive_duplicates(texts, group),
        "jaccard_overlap": naive_jaccard,
        "distinct_n": naive_distinct,
        "compression_ratio": lambda _: naive_compression(texts, group),
    }


def naive_repetition(groups: list[list[list[str]]]) -> list[float]:
    out = []
    for tokens in groups:
        reps = []
        for t in tokens:
            grams = [tuple(t[i:i + 4]) for i in range(len(t) - 3)]
            reps.append(1 - len(set(grams)) / len(grams) if grams else 0.0)
        out.append(sum(reps) / len(reps))
    return out


def naive_jaccard(groups: list[list[list[str]]]) -> list[float]:
    out = []
    for tokens in groups:
        sets = [set(t) for t in tokens]
        pairs = [len(a & b) / len(a | b) if a | b else 1.0 for a, b in itertools.combinations(sets, 2)]
        out.append(sum(pairs) / len(pairs))
    return out


def naive_distinct(groups: list[list[list[str]]]) -> list[float]:
    out = []
    for tokens in groups:
        bigrams = [tuple(t[i:i + 2]) for t in tokens for i in range(len(t) - 1)]
        out.append(len(set(bigrams)) / len(bigrams) if bigrams else 1.0)
    return out


def naive_duplicates(texts: list[str], group: int) -> list[float]:
    """SPEC §1: responses compared case-folded, whitespace runs collapsed and trimmed."""
    out = []
    for start in range(0, len(texts), group):
        members = texts[start:start + group]
        out.append(1 - len({" ".join(t.casefold().split()) for t in members}) / len(members))
    return out


def naive_compression(texts: list[str], group: int) -> list[float]:
    out = []
    for start in range(0, len(texts), group):
        raw = b"\n".join(sorted(t.encode() for t in texts[start:start + group]))
        out.append(len(raw) / len(gzip.compress(raw, mtime=0)))
    return out


def naive_embedding(vectors: np.ndarray, group: int) -> dict[str, np.ndarray]:
    from sklearn.metrics.pairwise import cosine_similarity
    from vendi_score import vendi

    out = {name: [] for name in ("pairwise_cosine", "centroid_distance", "vendi_score")}
    upper = np.triu_indices(group, 1)
    for start in range(0, len(vectors), group):
        members = vectors[start:start + group].astype(np.float64)
        kernel = cosine_similarity(members)
        out["pairwise_cosine"].append(kernel[upper].mean())
        unit = members / np.linalg.norm(members, axis=1, keepdims=True)
        centre = unit.mean(axis=0)
        out["centroid_distance"].append(np.mean([1 - u @ centre / np.linalg.norm(centre) for u in unit]))
        out["vendi_score"].append(vendi.score_K(kernel, q=1))
    return {k: np.array(v) for k, v in out.items()}


# ---------------------------------------------------------------- correctness-aware metrics and self-BLEU


def synthetic_outcomes(rollouts: int, group: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(correct (N,) bool, rewards (N,)): each group its own success rate; a correct answer earns 1.0, a wrong
    one 0, 0.25 or 0.5; a fifth of the groups earn 0.5 throughout (dead groups)."""
    rng = np.random.default_rng(seed)
    groups = rollouts // group
    correct = rng.random((groups, group)) < rng.random((groups, 1))
    rewards = np.where(correct, 1.0, rng.choice([0.0, 0.25, 0.5], size=(groups, group)))
    dead = rng.random(groups) < 0.2
    correct[dead], rewards[dead] = False, 0.5
    return correct.ravel(), rewards.ravel()


def fast_correctness(texts, vectors, group, correct, rewards) -> dict:
    """Each metric's engine path, from what the engine has already built (the Corpus, as ``score`` shares it);
    distinct_correct tokenises the correct answers again (its own Corpus), and so does its naive path."""
    layout = m.Groups(np.full(len(texts) // group, group))
    corpus = m.Corpus(texts, layout.sizes)

    def vendi_correct() -> np.ndarray:
        out = np.empty(layout.n_groups)
        for chosen, kernels in m.kernel_batches(vectors, layout):
            out[chosen] = m.vendi_score_correct_batch(kernels, correct[layout.starts[chosen, None] + np.arange(group)])
        return out

    return {
        "pass@1 + pass@G": lambda: np.concatenate([m.pass_at_1_batch(layout, correct), m.pass_at_k_batch(layout, correct)]),
        "reward_zero_std": lambda: m.reward_zero_std_batch(layout, rewards),
        "distinct_correct (tokenises the correct ones)": lambda: m.distinct_correct_batch(corpus, correct),
        "vendi_score_correct (from embeddings)": vendi_correct,
        "self_bleu (sacrebleu, G(G-1) pairs)": lambda: m.self_bleu_batch(corpus),
    }


def naive_correctness(texts, vectors, group, correct, rewards) -> dict:
    """The same, one group at a time, as a user would write each definition."""
    import sacrebleu
    from sklearn.metrics.pairwise import cosine_similarity
    from vendi_score import vendi

    starts = range(0, len(texts), group)

    def pass_at(k_of) -> list[float]:
        out = []
        for start in starts:
            n, c = group, int(correct[start:start + group].sum())
            k = k_of(n)
            out.append(1.0 if n - c < k else 1 - math.comb(n - c, k) / math.comb(n, k))
        return out

    def vendi_correct() -> list[float]:
        out = []
        for start in starts:
            members = vectors[start:start + group][correct[start:start + group]].astype(np.float64)
            out.append(vendi.score_K(cosine_similarity(members), q=1) if len(members) else math.nan)
        return out

    def self_bleu() -> list[float]:
        out = []
        for start in starts:
            members = texts[start:start + group]
            scores = [sacrebleu.sentence_bleu(t, members[:i] + members[i + 1:]).score for i, t in enumerate(members)]
            out.append(sum(scores) / len(scores))
        return out

    return {
        "pass@1 + pass@G": lambda: pass_at(lambda n: 1) + pass_at(lambda n: n),
        "reward_zero_std": lambda: [float(max(r) - min(r) <= 1e-8) for r in (rewards[s:s + group] for s in starts)],
        "distinct_correct (tokenises the correct ones)": lambda: [
            len({" ".join(_TOKEN.findall(t.lower())) for t, ok in zip(texts[s:s + group], correct[s:s + group]) if ok})
            for s in starts],
        "vendi_score_correct (from embeddings)": vendi_correct,
        "self_bleu (sacrebleu, G(G-1) pairs)": self_bleu,
    }


def compare_correctness(texts, vectors, group: int, repeat: int) -> None:
    """Both paths in turns, ``repeat`` times (self-BLEU's naive loop once: it is the slow one); best turns."""
    correct, rewards = synthetic_outcomes(len(texts), group)
    paths = {"engine": fast_correctness(texts, vectors, group, correct, rewards),
             "naive": naive_correctness(texts, vectors, group, correct, rewards)}
    for name in paths["engine"]:
        best, values = {}, {}
        for path, stages in paths.items():
            turns = 1 if path == "naive" and name.startswith("self_bleu") else repeat
            results = [timed(stages[name]) for _ in range(turns)]
            values[path] = np.asarray(results[0][0], dtype=np.float64)
            best[path] = min(seconds for _, seconds in results)
        same_nan = np.array_equal(np.isnan(values["engine"]), np.isnan(values["naive"]))
        diff = float(np.nanmax(np.abs(values["engine"] - values["naive"]), initial=0.0)) if same_nan else math.inf
        print(f"{name:<46} {len(texts) / best['engine']:>12,.0f} {len(texts) / best['naive']:>12,.0f} "
              f"{best['naive'] / best['engine']:>9.1f}x {diff:>10.1e}")


# ---------------------------------------------------------------- report


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def run_stages(stages: dict) -> tuple[dict, dict]:
    """Run tokenise, then each metric on its output: (values per metric, seconds per stage)."""
    tokens, seconds = timed(stages["tokenise"])
    values, times = {}, {"tokenise": seconds}
    for name in LEXICAL:
        result, times[name] = timed(stages[name], tokens)
        values[name] = np.asarray(result, dtype=np.float64)
    return values, times


def compare_lexical(texts: list[str], group: int, repeat: int) -> None:
    """Both paths in turns, ``repeat`` times; prints the best turn of each stage and of the totals."""
    runs = {"engine": [], "naive": []}
    for _ in range(repeat):
        runs["engine"].append(run_stages(fast_lexical(texts, group)))
        runs["naive"].append(run_stages(naive_lexical(texts, group)))
    values = {path: turns[0][0] for path, turns in runs.items()}
    token_metrics = ("tokenise", *LEXICAL[:4])
    rows = [("tokenise (shared by the 4 token metrics)", ("tokenise",))]
    raw = {"compression_ratio": " (no tokens: raw bytes)", "duplicate_fraction": " (normalised text)"}
    rows += [(f"  {name}" + raw.get(name, ""), (name,)) for name in LEXICAL]
    rows += [("4 token metrics + tokenise", token_metrics), ("all 5 lexical, end to end", ("tokenise", *LEXICAL))]
    for label, stages in rows:
        best = {path: min(sum(times[s] for s in stages) for _, times in turns) for path, turns in runs.items()}
        names = [s for s in stages if s != "tokenise"]
        diff = max((float(np.max(np.abs(values["engine"][s] - values["naive"][s]))) for s in names), default=None)
        line = f"{label:<46} {len(texts) / best['engine']:>12,.0f} {len(texts) / best['naive']:>12,.0f} " \
               f"{best['naive'] / best['engine']:>9.1f}x"
        print(line + (f" {diff:>10.1e}" if diff is not None else ""))


def compare(label: str, fast, naive, rollouts: int) -> None:
    (fast_values, fast_s), (naive_values, naive_s) = fast, naive
    diff = max(float(np.max(np.abs(fast_values[k] - naive_values[k]))) for k in fast_values)
    print(f"{label:<46} {rollouts / fast_s:>12,.0f} {rollouts / naive_s:>12,.0f} {naive_s / fast_s:>9.1f}x "
          f"{diff:>10.1e}")
    for name in fast_values:
        print(f"    {name:<30} max |engine - naive| = {np.max(np.abs(fast_values[name] - naive_values[name])):.1e}")


SECTIONS = ("lexical", "embedding", "correctness")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, default=100_000, help="rollouts in the synthetic log (default 100000)")
    parser.add_argument("--group-size", type=int, default=8, help="responses per prompt, G (default 8)")
    parser.add_argument("--repeat", type=int, default=3, help="turns per path for the lexical metrics (default 3)")
    parser.add_argument("--vocabulary", choices=["word", "prose"], default="word",
                        help="word: word0..word4999, ASCII (default); prose: English-like lengths, UTF-8")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help=f"which rows to measure (default: all of {', '.join(SECTIONS)})")
    args = parser.parse_args()
    texts, vectors = synthetic_log(args.rollouts, args.group_size, kind=args.vocabulary)
    n = len(texts)
    print(f"{n:,} rollouts in groups of {args.group_size}, {args.vocabulary} vocabulary, {DIM}-d embeddings, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}; "
          f"load average {os.getloadavg()[0]:.1f}")
    warm = texts[: 64 * args.group_size]  # warm-up: imports, BLAS threads
    fast_embedding(vectors[: len(warm)], args.group_size)
    run_stages(fast_lexical(warm, args.group_size))
    print(f"{'metrics':<46} {'engine r/s':>12} {'naive r/s':>12} {'speed-up':>10} {'max |diff|':>10}")
    if "lexical" in args.sections:
        compare_lexical(texts, args.group_size, args.repeat)
    if "embedding" in args.sections:
        compare("cosine + centroid + Vendi", timed(fast_embedding, vectors, args.group_size),
                timed(naive_embedding, vectors, args.group_size), n)
    if "correctness" in args.sections:
        compare_correctness(texts, vectors, args.group_size, args.repeat)


if __name__ == "__main__":
    main()

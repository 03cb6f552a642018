"""Two synthetic, verifiable task families with many fully correct answers.

A and B stand in for the seed experiment's tau2-bench (phase 1) and IFBench
(phase 2), small enough that a 2-layer GPT learns them on two CPU cores. C
is a narrow second task whose rewarded answers lie in the base policy's
tail: the six items of each category that its preference order ranks last
(:data:`RARE`), which a policy collapsed onto its favourite answers rarely
samples and a varied one can find (partial credit: one point per rare item).

=====  ===================================  ==========================================
task   prompt                               constraints (reward = fraction met)
=====  ===================================  ==========================================
``A``  ``list 5 fruit :``                   each of the first K words is a new item of
                                            the category (K); exactly K words (1)
``B``  ``write 5 words starting with b :``  each of the first K words is a lexicon word
                                            starting with the letter (K); exactly K words (1)
``C``  ``list 4 rare fruit :``              each of the first K words is a new item of the
                                            category's rare half (K); exactly K words (1)
=====  ===================================  ==========================================

K runs from 3 to 8 (C: 3 to 6), so responses have up to 9 tokens with the end token.
Task A counts a repeated item as a wrong slot; task B allows repeats, so a
collapsing policy can earn full reward with "bear bear bear ..." and the
within-response repetition fraction has room to move (SPEC.md §6, last
bullets). A fully correct policy can still spread its mass over thousands
of answers per prompt: 12 items per category, 6-10 lexicon words per letter.

Train and eval prompts are disjoint: a (K, category) or (K, letter) pair is
held out for evaluation when ``(K + index) % 3 == 0``, so every K and every
category or letter appears in both sets, but never in the same combination.

:meth:`Task.demonstrate` writes the noisy-but-plausible demonstrations of
the supervised warm-up: every word is a real lexicon word, and mistakes are
wrong choices a partly competent model makes (an item of a look-alike
category, a repeat, a word with a neighbouring letter, one word too many or
too few), never junk. Correct choices follow a fixed Zipf-like preference
order, like a pretrained model's favourite answers, so the base policy's
entropy sits below that of an even spread over the correct answers and an
entropy target of H_init stays reachable by a good policy (SPEC.md §6).
Task C's demonstrations answer as for task A (favourites first) and follow
the instruction only on a slot in ten (``rare_hint``): a base that barely
knows the instruction, so its rewarded behaviour starts in the tail.

Every grader is a list of pass/fail checks (:meth:`Task.checks`); the reward
is the fraction passed. A noisy training grader (``--grader-noise``, in
``trainers/loop.py``) flips each check with a given chance; evaluation
always uses the true one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

CATEGORIES: dict[str, tuple[str, ...]] = {
    "fruit": ("apple", "banana", "berry", "cherry", "grape", "lemon", "lime", "mango", "melon", "peach", "pear", "plum"),
    "animal": ("bear", "cat", "cow", "dog", "goat", "horse", "lion", "mouse", "pig", "rabbit", "sheep", "tiger"),
    "color": ("black", "blue", "brown", "crimson", "gold", "green", "gray", "maroon", "pink", "purple", "red", "silver"),
    "tool": ("brush", "chisel", "clamp", "drill", "hammer", "ladder", "mallet", "pliers", "rake", "saw", "shovel", "wrench"),
    "city": ("berlin", "cairo", "dublin", "lima", "london", "madrid", "moscow", "paris", "rome", "seoul", "sydney", "tokyo"),
    "instrument": ("banjo", "bell", "cello", "drum", "flute", "guitar", "harp", "horn", "organ", "piano", "trumpet", "violin"),
}
# The category a confused model mixes up with each one (a plausible wrong choice).
LOOKALIKE = {"fruit": "color", "color": "fruit", "animal": "city", "city": "animal", "tool": "instrument", "instrument": "tool"}
LETTERS = ("b", "c", "g", "l", "m", "p", "s")
# A word "starting with" a letter's neighbour here is the letter-task's plausible slip.
NEIGHBOUR = {"b": "p", "p": "b", "c": "g", "g": "c", "l": "m", "m": "l", "s": "c"}
COUNTS = tuple(range(3, 9))
LEXICON: tuple[str, ...] = tuple(w for words in CATEGORIES.values() for w in words)
PROMPT_WORDS = ("list", "write", "words", "starting", "with", ":", "rare")
RARE_COUNTS = tuple(range(3, 7))  # task C: at most the six rare items of a category
# The reward of a response that meets every constraint: the correctness metrics' --correct-threshold.
FULL_MARKS = 1.0


@dataclass(frozen=True)
class Prompt:
    """One prompt: its text and what the grader checks."""

    task: str
    text: str
    k: int
    key: str  # the category (task A) or the letter (task B)


@dataclass(frozen=True)
class DemoNoise:
    """How far the warm-up's demonstrations are from perfect (see the module docstring)."""

    slot_error: float = field(default=0.3, metadata={"help": "chance that a demonstration slot holds a plausible wrong word"})
    length_error: float = field(default=0.3, metadata={"help": "chance that a demonstration has one word too many or too few"})
    zipf: float = field(default=3.0, metadata={
        "help": "exponent of the fixed preference order over correct words (0 = even spread)"})
    rare_hint: float = field(default=0.1, metadata={
        "help": "task C: chance that a demonstration slot follows the instruction (holds a rare item)"})


def _held_out(k: int, index: int) -> bool:
    return (k + index) % 3 == 0


def _preferred(words: list[str], rng: random.Random, zipf: float) -> str:
    """Draw from ``words`` (in preference order) with weights 1 / (rank + 1) ** zipf."""
    return rng.choices(words, weights=[1.0 / (rank + 1) ** zipf for rank in range(len(words))])[0]


def _ranked(words, seed: str) -> list[str]:
    """A fixed preference order over ``words``: the base model's favourites come first."""
    ranked = sorted(words)
    random.Random(seed).shuffle(ranked)
    return ranked


class Task:
    """A task family: prompts for each split, a grader, and a demonstration writer."""

    name: str
    description: str

    def prompts(self, split: str) -> list[Prompt]:
        raise NotImplementedError

    def checks(self, prompt: Prompt, response: str) -> list[bool]:
        """One pass/fail per verifiable constraint of the prompt: each of the K slots, then the length."""
        raise NotImplementedError

    def grade(self, prompt: Prompt, response: str) -> float:
        """Fraction of the prompt's verifiable constraints that ``response`` meets, in [0, 1]."""
        passed = self.checks(prompt, response)
        return sum(passed) / len(passed)

    def train_subset(self, n: int | None) -> list[Prompt]:
        """The first ``n`` train prompts taking one key (category or letter) after another, so a small
        training set still covers every key; None: all of them."""
        keys: dict[str, int] = {}  # how many of each key's prompts came before
        order = []
        for index, prompt in enumerate(self.prompts("train")):
            order.append((keys.get(prompt.key, 0), index, prompt))
            keys[prompt.key] = keys.get(prompt.key, 0) + 1
        ordered = [prompt for *_, prompt in sorted(order, key=lambda item: item[:2])]
        return ordered if n is None else ordered[:n]

    def demonstrate(self, prompt: Prompt, rng: random.Random, noise: DemoNoise) -> str:
        raise NotImplementedError

    def _length(self, k: int, rng: random.Random, noise: DemoNoise) -> int:
        if rng.random() < noise.length_error:
            return k + rng.choice((-1, 1))
        return k


class ListItems(Task):
    """Task A: ``list K CATEGORY :`` -> K distinct items of the category."""

    name = "A"
    description = "list K distinct items of a category"

    def prompts(self, split: str) -> list[Prompt]:
        return [
            Prompt(self.name, f"list {k} {category} :", k, category)
            for index, category in enumerate(CATEGORIES)
            for k in COUNTS
            if _held_out(k, index) == (split == "eval")
        ]

    def checks(self, prompt: Prompt, response: str) -> list[bool]:
        return _distinct_items(response.split(), set(CATEGORIES[prompt.key]), prompt.k)

    def demonstrate(self, prompt: Prompt, rng: random.Random, noise: DemoNoise) -> str:
        preferred = _ranked(CATEGORIES[prompt.key], prompt.key)
        lookalike = _ranked(CATEGORIES[LOOKALIKE[prompt.key]], LOOKALIKE[prompt.key])
        words: list[str] = []
        for _ in range(self._length(prompt.k, rng, noise)):
            if rng.random() < noise.slot_error:
                wrong = rng.choice(words) if words and rng.random() < 0.5 else _preferred(lookalike, rng, noise.zipf)
                words.append(wrong)
            else:
                words.append(_preferred([w for w in preferred if w not in words], rng, noise.zipf))
        return " ".join(words)


class LetterWords(Task):
    """Task B: ``write K words starting with L :`` -> K lexicon words with that first letter."""

    name = "B"
    description = "write K words starting with a letter (repeats allowed)"

    def prompts(self, split: str) -> list[Prompt]:
        return [
            Prompt(self.name, f"write {k} words starting with {letter} :", k, letter)
            for index, letter in enumerate(LETTERS)
            for k in COUNTS
            if _held_out(k, index) == (split == "eval")
        ]

    def checks(self, prompt: Prompt, response: str) -> list[bool]:
        words = response.split()
        slots = [word in LEXICON and word.startswith(prompt.key) for word in words[: prompt.k]]
        return _padded(slots, prompt.k) + [len(words) == prompt.k]

    def demonstrate(self, prompt: Prompt, rng: random.Random, noise: DemoNoise) -> str:
        preferred = _ranked([w for w in LEXICON if w.startswith(prompt.key)], prompt.key)
        neighbour = NEIGHBOUR[prompt.key]
        slips = _ranked([w for w in LEXICON if w.startswith(neighbour)], neighbour)
        words = []
        for _ in range(self._length(prompt.k, rng, noise)):
            pool = slips if rng.random() < noise.slot_error else preferred
            words.append(_preferred(pool, rng, noise.zipf))
        return " ".join(words)


class RareItems(Task):
    """Task C: ``list K rare CATEGORY :`` -> K distinct items of the category's rare half."""

    name = "C"
    description = "list K distinct rare items of a category (the base's least favoured half)"

    def prompts(self, split: str) -> list[Prompt]:
        return [
            Prompt(self.name, f"list {k} rare {category} :", k, category)
            for index, category in enumerate(CATEGORIES)
            for k in RARE_COUNTS
            if _held_out(k, index) == (split == "eval")
        ]

    def checks(self, prompt: Prompt, response: str) -> list[bool]:
        return _distinct_items(response.split(), set(RARE[prompt.key]), prompt.k)

    def demonstrate(self, prompt: Prompt, rng: random.Random, noise: DemoNoise) -> str:
        """Task A's answer to the same count and category, a slot in ``1 / rare_hint`` swapped for an
        unused rare item."""
        words = ListItems().demonstrate(Prompt("A", "", prompt.k, prompt.key), rng, noise).split()
        for i in range(len(words)):
            unused = [w for w in RARE[prompt.key] if w not in words]
            if unused and rng.random() < noise.rare_hint:
                words[i] = rng.choice(unused)
        return " ".join(words)


def _padded(slots: list[bool], k: int) -> list[bool]:
    return slots + [False] * (k - len(slots))


def _distinct_items(words: list[str], items: set[str], k: int) -> list[bool]:
    """Each of the first k words a new member of ``items`` (a repeat fails its slot); exactly k words."""
    slots, seen = [], set()
    for word in words[:k]:
        slots.append(word in items and word not in seen)
        seen.add(word)
    return _padded(slots, k) + [len(words) == k]


# Task C's rewarded items: the six of each category that the demonstrations' preference order ranks last.
RARE: dict[str, tuple[str, ...]] = {c: tuple(_ranked(items, c)[6:]) for c, items in CATEGORIES.items()}

TASKS: dict[str, Task] = {task.name: task for task in (ListItems(), LetterWords(), RareItems())}


def vocabulary() -> list[str]:
    """Every word a prompt or a correct or plausible response can contain, in a fixed order."""
    counts = [str(k) for k in COUNTS]
    return [*PROMPT_WORDS, *counts, *LETTERS, *CATEGORIES, *LEXICON]

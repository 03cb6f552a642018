"""The synthetic tasks: graders by hand, disjoint splits, many correct answers, plausible demonstrations."""

from __future__ import annotations

import itertools
import random

import pytest

from trainers.tasks import CATEGORIES, LETTERS, LEXICON, RARE, TASKS, DemoNoise, Prompt, vocabulary
from trainers.tokenizer import WordTokenizer

A, B, C = TASKS["A"], TASKS["B"], TASKS["C"]


@pytest.mark.parametrize(
    "response, reward",
    [
        ("apple pear plum", 4 / 4),  # 3 new fruits, exactly 3 words
        ("apple apple plum", 3 / 4),  # the repeat costs its slot
        ("apple red plum", 3 / 4),  # a colour is not a fruit
        ("apple pear", 2 / 4),  # two slots met, length wrong
        ("apple pear plum fig", 3 / 4),  # 3 slots met, one word too many
        ("", 0 / 4),
        ("red blue green", 1 / 4),  # only the length is right
    ],
)
def test_list_items_grader(response: str, reward: float) -> None:
    assert A.grade(Prompt("A", "list 3 fruit :", 3, "fruit"), response) == pytest.approx(reward)


@pytest.mark.parametrize(
    "response, reward",
    [
        ("bear blue brush berlin", 5 / 5),
        ("bear bear bear bear", 5 / 5),  # repeats are allowed in task B
        ("bear pig blue brush", 4 / 5),
        ("bear blue brush", 3 / 5),  # 3 slots met, too short
        ("bear blue brush bell banjo", 4 / 5),  # 4 slots met, too long
        ("bob blue brush bell", 4 / 5),  # not a lexicon word
    ],
)
def test_letter_words_grader(response: str, reward: float) -> None:
    assert B.grade(Prompt("B", "write 4 words starting with b :", 4, "b"), response) == pytest.approx(reward)


@pytest.mark.parametrize(
    "response, reward",
    [
        ("peach mango lime", 4 / 4),  # 3 new rare fruits, exactly 3 words
        ("peach apple lime", 3 / 4),  # a common fruit fails its slot
        ("peach peach lime", 3 / 4),  # so does a repeat
        ("apple grape lemon", 1 / 4),  # the favourites earn only the length
        ("peach mango", 2 / 4),
    ],
)
def test_rare_items_grader(response: str, reward: float) -> None:
    assert RARE["fruit"] == ("peach", "mango", "lime", "pear", "banana", "cherry")
    assert C.grade(Prompt("C", "list 3 rare fruit :", 3, "fruit"), response) == pytest.approx(reward)


@pytest.mark.parametrize("task", list(TASKS.values()), ids=list(TASKS))
def test_a_grade_is_the_fraction_of_checks_passed(task) -> None:
    rng = random.Random(1)
    for prompt in task.prompts("eval"):
        text = task.demonstrate(prompt, rng, DemoNoise())
        checks = task.checks(prompt, text)
        assert len(checks) == prompt.k + 1 and task.grade(prompt, text) == sum(checks) / len(checks)


@pytest.mark.parametrize("task", list(TASKS.values()), ids=list(TASKS))
def test_a_small_training_set_takes_each_key_in_turn(task) -> None:
    keys = {p.key for p in task.prompts("train")}
    small = task.train_subset(len(keys))
    assert {p.key for p in small} == keys and len({p.text for p in small}) == len(keys)
    assert task.train_subset(len(keys) + 2)[: len(keys)] == small
    assert sorted(p.text for p in task.train_subset(None)) == sorted(p.text for p in task.prompts("train"))


@pytest.mark.parametrize("task", list(TASKS.values()), ids=list(TASKS))
def test_train_and_eval_prompts_are_disjoint_and_cover_every_count_and_key(task) -> None:
    train, evaluation = task.prompts("train"), task.prompts("eval")
    assert train and evaluation
    assert not {p.text for p in train} & {p.text for p in evaluation}
    for split in (train, evaluation):
        assert {p.k for p in split} == {p.k for p in train + evaluation}
        assert {p.key for p in split} == {p.key for p in train + evaluation}


def test_many_distinct_responses_earn_full_reward() -> None:
    prompt = Prompt("A", "list 3 fruit :", 3, "fruit")
    perfect = {" ".join(c) for c in itertools.permutations(CATEGORIES["fruit"], 3)}
    assert len(perfect) == 12 * 11 * 10
    assert all(A.grade(prompt, r) == 1.0 for r in perfect)
    for letter in LETTERS:
        words = [w for w in LEXICON if w.startswith(letter)]
        assert len(words) >= 6, letter
        assert B.grade(Prompt("B", "", 3, letter), " ".join(words[:3])) == 1.0


@pytest.mark.parametrize("task", [A, B], ids=["A", "B"])
def test_demonstrations_are_plausible_and_partly_correct(task) -> None:
    rng = random.Random(0)
    noise = DemoNoise()
    rewards = []
    for prompt in task.prompts("train"):
        for _ in range(20):
            text = task.demonstrate(prompt, rng, noise)
            assert all(word in LEXICON for word in text.split())  # wrong choices, never junk
            rewards.append(task.grade(prompt, text))
    mean = sum(rewards) / len(rewards)
    assert 0.55 < mean < 0.8
    perfect = [task.demonstrate(p, rng, DemoNoise(0.0, 0.0, 1.0)) for p in task.prompts("train")]
    assert all(task.grade(p, t) == 1.0 for p, t in zip(task.prompts("train"), perfect))


def test_rare_task_demonstrations_mostly_miss_but_full_marks_exist() -> None:
    """The base's demonstrations barely follow task C: its rewarded answers start in the tail."""
    rng = random.Random(0)
    prompts = C.prompts("train")
    texts = [C.demonstrate(p, rng, DemoNoise()) for p in prompts for _ in range(20)]
    assert all(word in LEXICON for text in texts for word in text.split())
    mean = sum(C.grade(p, t) for p, t in zip((p for p in prompts for _ in range(20)), texts)) / len(texts)
    assert 0.1 < mean < 0.35
    following = DemoNoise(0.0, 0.0, 1.0, rare_hint=1.0)
    assert all(C.grade(p, C.demonstrate(p, rng, following)) == 1.0 for p in prompts)


def test_word_tokenizer_round_trip_and_end_token() -> None:
    tokenizer = WordTokenizer(vocabulary())
    text = "list 5 fruit :"
    assert tokenizer.decode(tokenizer.encode(text)) == text
    ids = tokenizer.encode("apple pear") + [tokenizer.eos_id] + tokenizer.encode("plum")
    assert tokenizer.decode(ids) == "apple pear"
    assert tokenizer.encode("zebra") == [tokenizer.unk_id]
    assert len(set(vocabulary())) == len(vocabulary())

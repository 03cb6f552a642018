"""Self-BLEU: the batched form equals the plain loop over sacrebleu.sentence_bleu."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diversity import metrics as m
from diversity.metrics.bleu import bleu_words
from rollout_common.errors import OptionError

sacrebleu = pytest.importorskip("sacrebleu")


def plain_self_bleu(texts: list[str]) -> float:
    """Each response against all the others, with sacrebleu's sentence BLEU, averaged."""
    scores = [sacrebleu.sentence_bleu(text, texts[:i] + texts[i + 1:]).score for i, text in enumerate(texts)]
    return sum(scores) / len(scores)


# Tokens that exercise sacrebleu's 13a tokenizer: punctuation, numbers with dots and dashes, case, entities.
WORDS = "the cat sat on a mat . , ! Dog dog ran 3.5 x-1 9-2 &amp; don't (yes) é".split()


def random_groups(seed: int, count: int) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    groups = []
    for _ in range(count):
        size = int(rng.integers(2, 9))
        texts = [" ".join(rng.choice(WORDS, size=rng.integers(0, 14))) for _ in range(size)]
        if size > 2:
            texts[2] = texts[0]  # a duplicate: BLEU 100 against it
        if size > 3:
            texts[3] = texts[1] + "  "  # trailing whitespace is stripped
        groups.append(texts)
    return groups


def test_equals_sacrebleu_sentence_bleu_against_the_others() -> None:
    groups = random_groups(0, 200)
    batched = m.self_bleu_batch(m.Corpus([t for g in groups for t in g], [len(g) for g in groups]))
    for value, texts in zip(batched, groups):
        assert value == pytest.approx(plain_self_bleu(texts), abs=1e-9)


def sacrebleu_words(text: str) -> list[str]:
    """What sacrebleu's BLEU reads of a text: _preprocess_segment (13a, case kept), then str.split()."""
    return sacrebleu.metrics.bleu.BLEU(effective_order=True)._preprocess_segment(text).split()


TRICKY = ["", "  ", "a.b", "3.5,2", "x-1 y - z", "end.", ".start", "&amp;lt; &quot;q&quot; &gt;", "<skipped>x",
          "line-\nbreak", "a\nb", "tab\tsep", "fs\x1cgs\x1dus\x1f", "nbsp\xa0ideo\u3000", "trail \x1e",
          "{[(`~@^_|)]}", "Ünïcode, ok.", "don't", "a..b,,c"]


def test_tokens_equal_sacrebleus_13a_tokenizer_on_hand_picked_cases() -> None:
    assert bleu_words(TRICKY).to_list() == [sacrebleu_words(t) for t in TRICKY]


PIECES = ["&amp;", "&lt;", "&gt;", "&quot;", "&", "<skipped>", "-\n", "\n", ".", ",", "-", "3", "a", " ", "\x1c",
          "\xa0", "é", "{", "`"]
unicode_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
piece_texts = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.one_of(unicode_texts, piece_texts), min_size=1, max_size=5))
def test_tokens_equal_sacrebleus_13a_tokenizer_on_arbitrary_unicode(texts: list[str]) -> None:
    assert bleu_words(texts).to_list() == [sacrebleu_words(t) for t in texts]


def test_hand_cases_and_groups_of_one() -> None:
    assert m.self_bleu(["a b c d e", "a b c d e"]) == pytest.approx(100.0)
    assert m.self_bleu(["one two three", "four five six"]) == 0.0
    assert m.self_bleu(["", ""]) == 0.0
    with pytest.raises(OptionError, match="self_bleu compares pairs"):
        m.self_bleu(["alone"])
    corpus = m.Corpus(["alone", "x y", "x y"], [1, 2])
    values = m.self_bleu_batch(corpus)
    assert math.isnan(values[0]) and values[1] == pytest.approx(100.0)


def test_blocks_of_groups_give_the_same_values(monkeypatch) -> None:
    from diversity.metrics import bleu

    groups = random_groups(1, 60)
    corpus = m.Corpus([t for g in groups for t in g], [len(g) for g in groups])
    whole = m.self_bleu_batch(corpus)
    monkeypatch.setattr(bleu, "ENTRY_BLOCK", 16)  # many small blocks
    assert np.array_equal(m.self_bleu_batch(corpus), whole)


def test_sacrebleu_is_imported_only_when_self_bleu_runs() -> None:
    code = "import sys, diversity.metrics, diversity.scoring; print('sacrebleu' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"

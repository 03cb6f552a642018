"""Tokenizers behind one small interface: the word-level one of the synthetic
tasks, and a wrapper around any Hugging Face tokenizer.

Both encode prompt text to ids and decode response ids to text, stopping at
the end token, so graders always see plain text.
"""

from __future__ import annotations

from collections.abc import Sequence


class WordTokenizer:
    """Whitespace-split words, one id each; ids 0-2 are ``<pad>``, ``<eos>``, ``<unk>``."""

    specials = ("<pad>", "<eos>", "<unk>")

    def __init__(self, words: Sequence[str]):
        self.words = [*self.specials, *words]
        self.ids = {word: i for i, word in enumerate(self.words)}
        if len(self.ids) != len(self.words):
            raise ValueError("the vocabulary has duplicate words")
        self.pad_id, self.eos_id, self.unk_id = 0, 1, 2

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        return [self.ids.get(word, self.unk_id) for word in text.split()]

    def decode(self, ids: Sequence[int]) -> str:
        """Words up to the first end token; padding and unknowns are dropped."""
        words = []
        for i in ids:
            if i == self.eos_id:
                break
            if i > self.unk_id:
                words.append(self.words[i])
        return " ".join(words)


class HFTokenizer:
    """A Hugging Face tokenizer with the same interface; padding falls back to the end token."""

    def __init__(self, tokenizer):
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no end-of-sequence token; set eos_token in tokenizer_config.json")
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids: Sequence[int]) -> str:
        ids = list(ids)
        if self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id)]
        return self.tokenizer.decode(ids, skip_special_tokens=True).strip()

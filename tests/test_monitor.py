"""DiversityMonitor: per-step means, the background worker's order, alerts, and the canonical log."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time

import numpy as np
import polars as pl
import pytest

import diversity
from diversity.embedding import Embedder
from diversity.monitor import EMBEDDING_STEP, PREFIX, Alert, DiversityMonitor
from diversity.scoring import score
from rollout_common.errors import DiversityError, OptionError


class SlowEmbedder(Embedder):
    """Deterministic dense vectors from each text's hash, after a random pause; fails on 'boom'."""

    id = "test:slow"

    def __init__(self, seed: int = 0):
        self.pause = random.Random(seed)

    def encode(self, texts: list[str]) -> np.ndarray:
        time.sleep(self.pause.uniform(0, 0.02))
        if "boom" in texts:
            raise RuntimeError("the embedder broke")
        digests = [np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], dtype=np.uint8) for t in texts]
        return np.array(digests, dtype=np.float32) + 1.0


def groups_at(step: int, size: int = 3, groups: int = 4) -> tuple[list[str], list[str]]:
    """A step's prompts (one per group) and answers; later steps repeat more."""
    rng = random.Random(step)
    answers = [f"w{rng.randrange(max(2, 9 - step))} w{rng.randrange(3)}" for _ in range(size * groups)]
    return [f"prompt {g}" for g in range(groups)], answers


def test_step_means_are_the_group_means_of_score():
    monitor = DiversityMonitor(group_size=3)
    values = monitor.step(1, ["p", "q"], ["a b", "a b", "c d", "x", "y", "z"])
    assert values[PREFIX + "duplicate_fraction"] == pytest.approx((1 / 3 + 0) / 2)  # 2 distinct of 3; 3 of 3
    assert values[PREFIX + "jaccard_overlap"] == pytest.approx((1 / 3 + 0) / 2)  # pairs 1, 0, 0; all 0
    rows = pl.DataFrame({"lineage": "r", "phase": "1", "step": 1, "split": "train", "group_id": ["0"] * 3 + ["1"] * 3,
                         "response": ["a b", "a b", "c d", "x", "y", "z"]})
    groups = score(rows, progress=False, metrics=[n.removeprefix(PREFIX) for n in values]).groups
    assert values == {PREFIX + name: groups[name].mean() for name in groups.columns if PREFIX + name in values}
    assert set(values) == {PREFIX + s for s in ("repetition_fraction", "duplicate_fraction", "jaccard_overlap",
                                                "distinct_n", "compression_ratio")}  # lexical by default
    monitor.close()


def test_inputs_are_checked():
    monitor = DiversityMonitor(group_size=2)
    with pytest.raises(OptionError, match="do not divide"):
        monitor.step(1, ["p"], ["a", "b", "c"])
    with pytest.raises(OptionError, match=r"prompts\[1\] differs"):
        monitor.step(1, ["p", "q", "r", "r"], ["a", "b", "c", "d"])  # one per response, not in blocks of 2
    with pytest.raises(OptionError, match="3 rewards"):
        monitor.step(1, ["p"], ["a", "b"], [1.0, 2.0, 3.0])
    with pytest.raises(OptionError, match=r"responses\[1\]"):
        monitor.step(1, ["p"], ["a", None])
    assert monitor.step(1, ["p", "p"], ["a", "a"])[PREFIX + "duplicate_fraction"] == 0.5
    assert monitor.close() == {} and monitor.close() == {}
    with pytest.raises(OptionError, match="closed"):
        monitor.step(2, ["p"], ["a", "b"])
    with pytest.raises(OptionError, match="need embeddings"):
        DiversityMonitor(group_size=2, metrics=["vendi_score"])
    with pytest.raises(OptionError, match="computes"):
        DiversityMonitor(group_size=2, alerts=[Alert("vendi_score", below=2.0)])
    with pytest.raises(OptionError, match="exactly one"):
        Alert("duplicate_fraction")


def test_background_results_are_never_lost_or_reordered():
    steps = range(1, 13)
    background = DiversityMonitor(group_size=3, embedder=SlowEmbedder(), max_pending=2)
    inline = DiversityMonitor(group_size=3, embedder=SlowEmbedder(), background=False)
    results, expected = [], {}
    for step in steps:
        background.observe(step, *groups_at(step))
        results += background.collect()
        inline.observe(step, *groups_at(step))
        (exact,) = inline.collect()
        expected[step] = exact.values
    results += background.collect(wait=True)
    background.close()
    embedded = [r for r in results if EMBEDDING_STEP in r.values]
    lexical = [r for r in results if EMBEDDING_STEP not in r.values]
    assert [r.step for r in embedded] == list(steps) and [r.step for r in lexical] == list(steps)
    for result in results:
        for key, value in result.values.items():
            assert key == EMBEDDING_STEP or value == pytest.approx(expected[result.step][key], rel=1e-12)


class HeldEmbedder(SlowEmbedder):
    """Waits for ``release`` before each encode: the test decides when the worker finishes."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()

    def encode(self, texts: list[str]) -> np.ndarray:
        assert self.release.wait(10)
        return super().encode(texts)


def test_embedding_results_come_with_a_later_call_merged_in_order():
    held = HeldEmbedder()
    monitor = DiversityMonitor(group_size=3, embedder=held)
    inline = DiversityMonitor(group_size=3, embedder=SlowEmbedder(), background=False)
    exact = {s: inline.step(s, *groups_at(s)) for s in (1, 2, 3)}
    first = monitor.step(1, *groups_at(1))
    assert PREFIX + "duplicate_fraction" in first and PREFIX + "vendi_score" not in first  # the step did not wait
    held.release.set()
    assert monitor.flush() == pytest.approx({k: v for k, v in exact[1].items() if k not in first}
                                            | {EMBEDDING_STEP: 1.0}, rel=1e-12)
    held.release.clear()
    monitor.step(2, *groups_at(2))
    monitor.step(3, *groups_at(3))
    held.release.set()
    later = monitor.close()  # two steps' results at once: each key's mean over them
    assert later[EMBEDDING_STEP] == 2.5
    assert later[PREFIX + "vendi_score"] == pytest.approx((exact[2][PREFIX + "vendi_score"]
                                                           + exact[3][PREFIX + "vendi_score"]) / 2, rel=1e-12)
    inline.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_the_background_thread_runs_at_the_lowest_cpu_priority():
    """So on a busy CPU it takes the cycles training leaves; the training thread keeps its priority."""
    seen = []

    class Spy(SlowEmbedder):
        def encode(self, texts):
            seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return super().encode(texts)

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    monitor = DiversityMonitor(group_size=2, embedder=Spy())
    monitor.observe(1, ["p"], ["a", "b"])
    monitor.close()
    assert seen == [19] and os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def test_a_background_failure_is_raised_and_the_other_results_kept():
    monitor = DiversityMonitor(group_size=2, embedder=SlowEmbedder())
    monitor.observe(1, ["p"], ["a", "b"])
    monitor.observe(2, ["p"], ["boom", "b"])
    monitor.observe(3, ["p"], ["c", "d"])
    with pytest.raises(DiversityError, match="step 2 failed: RuntimeError: the embedder broke"):
        monitor.collect(wait=True)
    kept = monitor.collect()
    assert [r.step for r in kept if EMBEDDING_STEP in r.values] == [1, 3]
    monitor.close()


def test_embed_every_embeds_every_nth_call():
    monitor = DiversityMonitor(group_size=3, embedder="hashing", background=False, embed_every=2)
    embedded = [PREFIX + "vendi_score" in monitor.step(s, *groups_at(s)) for s in range(1, 6)]
    assert embedded == [True, False, True, False, True]
    monitor.close()


def test_alert_names_the_step_and_shows_an_escaped_truncated_example(caplog):
    monitor = DiversityMonitor(group_size=4, alerts=[Alert("duplicate_fraction", above=0.5)])
    varied = ["a", "b", "c", "d"]
    looping = "loop\n\x1b[31m" + "x" * 200
    caplog.set_level(logging.WARNING, logger="diversity")
    monitor.step(1, ["p1", "p2"], varied + varied)
    monitor.step(2, ["p1", "p2"], varied + [looping] * 3 + ["e"])  # group means 0 and 0.5: not above
    assert caplog.records == []
    monitor.step(3, ["p1", "p2\nnext"], [looping] * 4 + [looping] * 3 + ["e"])
    monitor.step(4, ["p1", "p2"], [looping] * 8)  # still collapsed: no second warning
    (record,) = caplog.records
    message = record.getMessage()
    assert message.startswith("diversity alert at step 3: duplicate_fraction 0.625 > 0.5")
    assert "Example group 00000 (duplicate_fraction 0.75), prompt 'p1': 4 answers, 1 distinct:" in message
    assert "'loop\\n\\x1b[31m" + "x" * 47 + "...' x4" in message  # escaped, cut to 60 characters
    assert "\n" not in message and "\x1b" not in message
    caplog.clear()
    monitor.step(5, ["p1", "p2"], varied + varied)  # recovered
    monitor.step(6, ["p1", "p2"], ["z"] * 8)  # collapsed again: warned again
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["diversity alert at step 6"]
    monitor.close()


def test_relative_alert_compares_with_the_first_value(caplog):
    monitor = DiversityMonitor(group_size=4, embedder="hashing", background=False,
                               alerts=[Alert("vendi_score", below=0.5, relative=True)])
    caplog.set_level(logging.WARNING, logger="diversity")
    monitor.step(1, ["p"], ["red fox", "blue sky", "green tea", "old map"])  # Vendi 4
    monitor.step(2, ["p"], ["red fox", "red fox", "blue sky", "blue sky"])  # Vendi 2: not below 4 x 0.5
    assert caplog.records == []
    monitor.step(3, ["p"], ["red fox"] * 4)  # Vendi 1
    (record,) = caplog.records
    assert record.getMessage().startswith("diversity alert at step 3: vendi_score 1 < 2 (0.5 x its first value 4)")
    monitor.close()


def test_the_rollout_log_is_a_canonical_log(tmp_path):
    path = tmp_path / "my-run" / "rollouts.jsonl"
    first = DiversityMonitor(group_size=3, rollout_log=path)
    expected = {1: first.step(1, *groups_at(1), rewards=[1.0, None, float("nan")] * 4)}
    first.close()
    again = DiversityMonitor(group_size=3, rollout_log=path, phase="2")  # a resumed run appends
    expected[2] = again.step(2, *groups_at(2))
    again.observe(2, *groups_at(2))  # a second batch in the same step: groups numbered on
    again.close()
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) == 36 and all(line.endswith("\n") and json.loads(line) for line in lines)
    rollouts = diversity.load_rollouts(path)
    assert rollouts["lineage"].unique().to_list() == ["my-run"]
    assert rollouts.group_by("step").agg(pl.col("phase").first(), pl.col("group_id").n_unique()).sort("step").rows() \
        == [(1, "1", 4), (2, "2", 8)]
    assert rollouts.filter(pl.col("step") == 1)["reward"].to_list() == [1.0, None, None] * 4
    summary = score(rollouts.filter(pl.col("step") == 1), progress=False, metrics=["duplicate_fraction"]).summary
    assert summary["duplicate_fraction_mean"][0] == pytest.approx(expected[1][PREFIX + "duplicate_fraction"])


def test_importing_the_monitor_loads_no_model_library():
    code = "import sys, diversity.monitor; print(','.join(m for m in ('torch', 'transformers') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""

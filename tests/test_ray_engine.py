"""The Ray Data engine on a local Ray instance: the same file and numbers as the local engine."""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import diversity
from diversity.load import LoadOptions
from diversity.metrics.registry import METRICS
from diversity.streaming import score_logs
from rollout_cli import main
from tests.conftest import REPO, write_jsonl

ray = pytest.importorskip("ray")

DEMO = REPO / "data" / "demo" / "canonical.jsonl"
ALL = list(METRICS)
LEXICAL = [m for m, spec in METRICS.items() if not spec.needs_embeddings]
EMBEDDING = [m for m, spec in METRICS.items() if spec.needs_embeddings]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One small local Ray instance for the module (2 CPUs, as the CI machine)."""
    from diversity.ray_engine import start_local

    start_local(ray, num_cpus=2)
    yield
    ray.shutdown()


def assert_same_scores(ray_file, local_file) -> None:
    assert_frame_equal(pl.read_parquet(ray_file), pl.read_parquet(local_file), check_exact=False, rel_tol=0, abs_tol=1e-9)
    assert pq.read_schema(ray_file).metadata == pq.read_schema(local_file).metadata


def test_demo_on_ray_equals_the_local_engine(tmp_path) -> None:
    paths, options = [DEMO, DEMO.parent / "trl"], LoadOptions(group_size=4)  # a file for Ray's tasks, one for the loader
    local = score_logs(paths, tmp_path / "local.parquet", load_options=options, metrics=ALL, embedder="hashing",
                       progress=False)
    on_ray = score_logs(paths, tmp_path / "ray.parquet", load_options=options, metrics=ALL, embedder="hashing",
                        chunk_rows=60, engine="ray", progress=False)
    assert_same_scores(on_ray.path, local.path)
    assert (on_ray.rollouts, on_ray.groups) == (local.rollouts, local.groups)
    assert [f.format for f in on_ray.files] == ["trl"]  # the driver's loader read the TRL file


def test_shuffled_files_on_ray_equal_the_local_engine(tmp_path) -> None:
    frame = diversity.load_rollouts(DEMO).sample(fraction=1.0, shuffle=True, seed=3)
    write_jsonl(tmp_path / "logs" / "a.jsonl", frame.head(200).to_dicts())
    frame.tail(184).write_parquet(tmp_path / "logs" / "b.parquet")
    local = score_logs(tmp_path / "logs", tmp_path / "local.parquet", metrics=ALL, embedder="hashing", progress=False)
    on_ray = score_logs(tmp_path / "logs", tmp_path / "ray.parquet", metrics=ALL, embedder="hashing", chunk_rows=50,
                        engine="ray", progress=False)
    assert_same_scores(on_ray.path, local.path)


def test_score_of_a_frame_on_ray_equals_score() -> None:
    from diversity.ray_engine import score_on_ray
    from diversity.scoring import _prepare

    rollouts = diversity.load_rollouts(DEMO)
    for metrics in (LEXICAL, EMBEDDING):
        expected = diversity.score(rollouts, metrics=metrics, embedder="hashing", progress=False)
        if metrics == EMBEDDING:  # the public form: one bucket
            on_ray = diversity.score(rollouts, metrics=metrics, embedder="hashing", progress=False, engine="ray")
        else:  # buckets of about 40 rows
            on_ray = score_on_ray(_prepare(rollouts), chunk_rows=40, metrics=metrics, embedder="hashing", progress=False)
        assert_frame_equal(on_ray.groups, expected.groups, check_exact=False, rel_tol=0, abs_tol=1e-9)
        assert on_ray.metrics == expected.metrics and on_ray.settings == expected.settings


def test_score_command_with_engine_ray(tmp_path, capsys) -> None:
    out = tmp_path / "scores.parquet"
    assert main(["score", str(DEMO), "--out", str(out), "--engine", "ray", "--chunk-rows", "100", "--no-progress",
                 "--metrics", "distinct_n", "jaccard_overlap"]) == 0
    assert "96 groups, 384 rollouts" in capsys.readouterr().out
    assert pl.read_parquet(out).columns[-2:] == ["jaccard_overlap", "distinct_n"]

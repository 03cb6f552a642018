"""Saved scores beside logs: a saved score stands for its logs, a group given twice is one group, and one
table never mixes embedders; through ``analyse`` and ``rollout-diversity report``. Also: global options
after the subcommand."""

from __future__ import annotations

from pathlib import Path

import pytest

from diversity.analysis import analyse
from diversity.scoring import score
from rollout_common.errors import OptionError
from tests.conftest import REAL, run_cli

VERL = REAL / "verl"
LEXICAL = ["duplicate_fraction", "distinct_n"]


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """Scores of verl's classic run (28 groups), made with the hashing embedder."""
    import diversity

    path = tmp_path / "classic.parquet"
    score(diversity.load_rollouts(VERL / "classic"), embedder="hashing", progress=False).to_parquet(path)
    return path


def test_logs_given_with_their_saved_scores_are_not_counted_twice(saved: Path) -> None:
    alone = analyse([saved], progress=False)
    both = analyse([saved, VERL / "classic"], embedder="hashing", progress=False)
    assert both.scores.groups.height == alone.scores.groups.height == 28
    assert both.scores.summary["groups"].sum() == 28
    assert both.scores.embedder == alone.scores.embedder  # the saved scores stand: nothing re-scored
    more = analyse([saved, VERL / "classic", VERL / "v1"], embedder="hashing", progress=False)
    assert more.scores.groups.height == 28 + 4  # only v1's groups are new


def test_a_group_in_two_saved_files_is_one_group(saved: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(saved.read_bytes())
    assert analyse([saved, copy], progress=False).scores.groups.height == 28


def test_mixing_embedders_is_refused_with_the_fix(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="scored with embedder hashing:.*Pass --embedder hashing"):
        analyse([saved, VERL / "v1"], embedder="tfidf", progress=False)
    import diversity

    other = tmp_path / "tfidf.parquet"
    score(diversity.load_rollouts(VERL / "v1"), embedder="tfidf", progress=False).to_parquet(other)
    with pytest.raises(OptionError, match="saved scores were made with different embedders"):
        analyse([saved, other], progress=False)
    lexical_only = analyse([saved, VERL / "v1"], embedder="tfidf", metrics=LEXICAL, progress=False)
    assert lexical_only.scores.groups.height == 32  # no embedding metric asked for: nothing would mix


def test_report_with_saved_scores_and_their_logs_on_the_command_line(saved: Path, tmp_path: Path, capsys) -> None:
    page = tmp_path / "page.html"
    code, _, err = run_cli(capsys, "report", saved, VERL / "classic", VERL / "v1", "--out", page, "--no-progress")
    assert code == 2 and "Pass --embedder hashing" in err and "Traceback" not in err
    code, out, _ = run_cli(capsys, "report", saved, VERL / "classic", "--out", page, "--no-progress",
                           "--embedder", "hashing")
    assert code == 0 and page.is_file()
    assert "28 groups" in page.read_text()


def test_global_options_after_the_subcommand(saved: Path, tmp_path: Path, capsys) -> None:
    from rollout_cli import main

    out = tmp_path / "again.parquet"
    code = main(["score", str(VERL / "v1"), "--out", str(out), "--embedder", "hashing", "--no-progress", "-q"])
    printed = capsys.readouterr().out
    assert code == 0 and out.is_file()
    assert printed.startswith("wrote ") and "lineage" not in printed  # -q after the subcommand: no summary table
    code = main(["-q", "inspect", str(VERL / "v1")])
    assert code == 0
    code = main(["inspect", str(VERL / "v1"), "--quiet"])
    assert code == 0

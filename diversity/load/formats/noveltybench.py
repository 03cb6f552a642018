"""NoveltyBench results: ``<date>_<model>/<subset>/generations.jsonl``, then ``partitions.jsonl``, ``scores.jsonl``.

Each line is one prompt and its list of ``generations`` (novelty-bench
``src/inference.py``); ``partition.py`` copies the line and adds ``partition``
(each generation's equivalence class) and ``distinct``; ``score.py`` adds
``generation_scores`` (per generation: the reward model's score if it is the
first of its class, else 0), ``partition_scores`` (per class) and ``utility``.

- One line is one group (``group_id`` is the line's ``id``, else a hash of the
  prompt), read as eval rollouts at step 0.
- Per response: ``reward`` is its ``generation_scores`` entry, ``partition``
  its class and ``partition_score`` its class's score; the group's scalars
  (``distinct``, ``utility``, ``model``) are kept on every row, and
  ``partition_classes`` (max(partition) + 1) is added, since ``distinct`` is
  max(partition) in the current code and the number of classes in older
  published files.
- ``generations: []`` (every retry of the model service failed) is counted
  and skipped, never a stop.
- Lineage: the line's ``model``, else the model part of the ``<date>_<model>``
  folder. One model run twice (``..._in-context``) is two runs: such lineages
  are named after their folders so they never merge (:func:`finish`).
- A folder holding generations, partitions and scores of one run is read
  once: each prompt from the file that adds the most (scores, then
  partitions, then generations).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import BadRow, DroppedRow, DuplicateRow, each_row, string, text_id, to_frame

if TYPE_CHECKING:
    from diversity.load.formats.base import ReadFiles
    from diversity.load.options import LoadOptions

# NoveltyBench's own files, from the one that adds least to the one that adds most.
_STAGES = ("generations.jsonl", "partitions.jsonl", "scores.jsonl")
_PER_RESPONSE = ("generations", "partition", "generation_scores", "partition_scores")
_DATED = re.compile(r"^\d{4}-\d{2}-\d{2}_(?P<model>.+)$")


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    run = _run_folder(records.path)
    folder_model = _DATED.match(run.name)["model"] if _DATED.match(run.name) else None
    rows, failed, seen, repeated = [], 0, {}, 0
    for location, record, guard in each_row(records, report, options.skip_bad_rows):
        with guard:
            prompt = string(record, "prompt")
            generations = record.get("generations")
            if not isinstance(generations, list) or not all(isinstance(g, str) for g in generations):
                raise BadRow("generations", "expected a list of strings")
            group = string(record, "id", required=False) or text_id(prompt)
            if group in seen:  # one line per prompt: a second is the same line again, or a clash
                if seen[group][1] != record:
                    raise BadRow("id", f"{group!r} is also on {records.unit} {seen[group][0]} with other "
                                       "contents", "NoveltyBench writes one line per prompt; remove the repeat")
                repeated += 1
                raise DuplicateRow()
            lineage = string(record, "model", required=False) or folder_model
            scalars = {k: v for k, v in record.items() if k not in ("id", "prompt", *_PER_RESPONSE)}
            group_rows = [
                {**scalars, **extra, "prompt": prompt, "response": text, "group_id": group, "step": 0,
                 "split": "eval", "lineage": lineage}
                for text, extra in zip(generations, _per_response(record, len(generations)))
            ]
            seen[group] = (location, record)
            if not generations:
                failed += 1
                raise DroppedRow()
        if not guard.failed:
            rows.extend(group_rows)
    report.note("repeated_lines", repeated,
                f"{repeated} line(s) repeat an earlier line of the file exactly: read once")
    report.note("failed_prompts", failed,
                f"{failed} prompt(s) have no generations ('generations: []': the model service failed for them): "
                "skipped; re-run NoveltyBench's inference on this folder to fill them")
    return to_frame(rows)


def _per_response(record: dict, size: int) -> list[dict]:
    """Each generation's own fields: its class, its class's score, and its score as the reward."""
    extras: list[dict] = [{} for _ in range(size)]
    partition = record.get("partition")
    if partition is not None:
        if not isinstance(partition, list) or len(partition) != size or not all(_index(c) for c in partition):
            raise BadRow("partition", f"expected {size} class indices, one per generation")
        for extra, cls in zip(extras, partition):
            extra["partition"], extra["partition_classes"] = cls, max(partition) + 1
    scores = record.get("generation_scores")
    if scores is not None:
        if not isinstance(scores, list) or len(scores) != size or not all(_score(s) for s in scores):
            raise BadRow("generation_scores", f"expected {size} numbers, one per generation")
        for extra, value in zip(extras, scores):
            extra["reward"] = float(value)
    by_class = record.get("partition_scores")
    if by_class is not None and partition is not None:
        if not isinstance(by_class, list) or not all(_score(s) for s in by_class) or max(partition) >= len(by_class):
            raise BadRow("partition_scores", f"expected a number for each of the {max(partition) + 1} classes")
        for extra, cls in zip(extras, partition):
            extra["partition_score"] = float(by_class[cls])
    return extras


def _index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _score(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _run_folder(path: Path) -> Path:
    """The run's folder: the nearest ``<date>_<model>`` folder above the file, else the file's own folder."""
    parents = path.resolve().parents
    for folder in parents[:3]:
        if _DATED.match(folder.name):
            return folder
    return parents[0]


def finish(read: ReadFiles, options: LoadOptions) -> ReadFiles:
    return _name_runs_apart(_read_each_prompt_once(read), options)


def _read_each_prompt_once(read: ReadFiles) -> ReadFiles:
    """Within one folder, each prompt's rows from the file that adds the most (scores > partitions > generations)."""
    stage = {id(report): _STAGES.index(Path(report.path).name) if Path(report.path).name in _STAGES else -1
             for report, _ in read}
    best: dict[tuple[Path, str], tuple[int, FileReport]] = {}
    for report, frame in read:
        for group in frame["group_id"].unique().to_list():
            key = (Path(report.path).resolve().parent, group)
            if key not in best or stage[id(report)] > best[key][0]:
                best[key] = (stage[id(report)], report)
    kept = []
    for report, frame in read:
        folder = Path(report.path).resolve().parent
        mine = [g for g in frame["group_id"].unique().to_list() if best[(folder, g)][1] is report]
        dropped = frame["group_id"].n_unique() - len(mine)
        if dropped:
            instead = sorted({Path(best[(folder, g)][1].path).name for g in frame["group_id"].unique().to_list()
                              if best[(folder, g)][1] is not report})
            report.repeated_elsewhere(dropped)  # one line per prompt (read), so prompts are records
            report.note("prompts_read_from_later_file", dropped,
                        f"{dropped} prompt(s) are also in {', '.join(instead)} beside it, which adds to them "
                        "(partitions, scores): read from there, once")
            frame = frame.filter(pl.col("group_id").is_in(mine))
        kept.append((report, frame))
    return kept


def _name_runs_apart(read: ReadFiles, options: LoadOptions) -> ReadFiles:
    """A lineage (one model) found in several run folders is several runs: name each after its folder."""
    if options.lineage is not None:
        return read
    runs: dict[str, set[Path]] = {}
    for report, frame in read:
        for lineage in frame["lineage"].unique().to_list():
            runs.setdefault(lineage, set()).add(_run_folder(Path(report.path)))
    renamed = []
    for report, frame in read:
        folder = _run_folder(Path(report.path))
        lineages = frame["lineage"].unique().to_list()
        clashing = [name for name in lineages if len(runs[name]) > 1]
        if clashing:
            name = _folder_name(folder, runs[clashing[0]])
            report.note("lineage_named_after_folder", frame.height,
                        f"model {clashing[0]!r} comes from {len(runs[clashing[0]])} run folders: this one's rows "
                        f"are lineage {name!r} so the runs never merge (pass --lineage to merge them)")
            frame = frame.with_columns(pl.when(pl.col("lineage").is_in(clashing)).then(pl.lit(name))
                                       .otherwise(pl.col("lineage")).alias("lineage"))
        renamed.append((report, frame))
    return renamed


def _folder_name(folder: Path, folders: set[Path]) -> str:
    """The shortest name that tells ``folder`` from the others: its model part, its name, or its path."""
    for name in (lambda f: _DATED.match(f.name)["model"] if _DATED.match(f.name) else f.name, lambda f: f.name):
        if len({name(f) for f in folders}) == len(folders):
            return name(folder)
    return str(folder)


FORMAT = Format(name="noveltybench", title="NoveltyBench generations", columns=("prompt", "generations"), read=read,
                finish=finish)

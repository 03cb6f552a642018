"""verl generation dumps: ``{rollout_data_dir}/{global_step}.jsonl`` and ``{validation_data_dir}/{global_step}.jsonl``.

Rows hold ``input``, ``output``, ``score``, ``gts``, ``step`` and the
reward's extra keys (checked against files verl 0.9.1's own dump code
wrote). verl reorders rows (sequence-length balancing), so groups are formed
from keys, not positions:

- With ``uid`` (the v1 trainer): ``uid`` is ``{prompt uid}_{session}_{output
  index}``, and a group is every row of one prompt uid (the part before the
  first ``_``, as verl's own ``key.split("_")[0]``), so two data-set items
  with the same prompt text stay two groups. A session of a multi-output
  (tool-calling) agent loop writes one row per output; it is one sampled
  answer, so its rows are joined into one response **[ours]**: its turns from
  the first output on (later outputs' inputs hold the earlier turns and the
  tool replies), with the last output's score.
- Without ``uid`` (the classic trainer): a group is every row sharing (step,
  input); ``group_id`` is a hash of the prompt. Two data-set items with the
  same prompt text then fall into one group: :func:`warn_oversized` counts
  the groups larger than their run's usual size.

``step`` comes from the file name when the rows lack it. Files in a folder
named like a validation dump (:data:`VALIDATION_FOLDERS`) are read as
``split="eval"``; ``--split`` overrides it.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import BadRow, each_row, fits_int64, integer, number, string, text_id, to_frame

if TYPE_CHECKING:
    from diversity.load.formats.base import ReadFiles
    from diversity.load.options import LoadOptions

# verl has no default for trainer.validation_data_dir; these are the names its recipes and users give it
# (the recipes' $CKPTS_DIR/validation, "val", "val_outputs", ...).
VALIDATION_FOLDERS = ("validation", "val", "validation_data", "val_data", "val_generations", "val_outputs")
# v1 trainer keys: {prompt uid}_{session}_{output index}; the prompt uid is a uuid (no "_")
_SESSION_KEY = re.compile(r"^(?P<prompt>[^_]+)_(?P<session>\d+)_(?P<output>\d+)$")


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    folder = records.path.resolve().parent.name
    split = "eval" if folder in VALIDATION_FOLDERS else "train"
    if split == "eval" and options.split is None:
        report.split = (f"eval: the folder is named {folder!r}, like verl's validation_data_dir "
                        "(pass --split train to read it as training rollouts)")
    rows = []
    for _, record, guard in each_row(records, report, options.skip_bad_rows):
        with guard:
            row = {k: v for k, v in record.items() if k not in ("input", "output", "score")}
            row["prompt"] = string(record, "input")
            row["response"] = string(record, "output")
            row["reward"] = number(record, "score")
            step = integer(record, "step", required=False)
            row["step"] = step if step is not None else _step_from_name(records.path)
            uid = string(record, "uid", required=False)
            row["group_id"] = text_id(row["prompt"]) if uid is None else _prompt_uid(uid)
            row["split"] = split
        if not guard.failed:
            rows.append(row)
    if "uid" in records.columns:
        rows = _join_sessions(rows, report)
    return to_frame(rows)


def _step_from_name(path: Path) -> int:
    try:
        step = int(path.stem)
    except ValueError:
        step = None
    if step is None or not fits_int64(step):
        raise BadRow("step", f"missing, and the file name {path.name!r} is not '<global_step>.jsonl' (a step of at "
                             "most 64 bits)")
    return step


def _prompt_uid(uid: str) -> str:
    match = _SESSION_KEY.match(uid)
    return match["prompt"] if match else uid


def _join_sessions(rows: list[dict], report: FileReport) -> list[dict]:
    """One row per sampled answer: a session's several outputs (v1 uid ``..._{session}_{k}``) joined in order."""
    sessions: dict[tuple, list[dict]] = {}
    for row in rows:
        match = _SESSION_KEY.match(row.get("uid") or "")
        key = (row["step"], match["prompt"], match["session"]) if match else (id(row),)
        sessions.setdefault(key, []).append(row)
    joined, merged = [], 0
    for turns in sessions.values():
        if len(turns) == 1:
            joined.append(turns[0])
            continue
        turns.sort(key=lambda r: int(_SESSION_KEY.match(r["uid"])["output"]))
        first, last = turns[0], turns[-1]
        if last["prompt"].startswith(first["prompt"]):
            response = last["prompt"][len(first["prompt"]):] + last["response"]
        else:
            response = "\n".join(turn["response"] for turn in turns)
        joined.append({**last, "prompt": first["prompt"], "response": response, "outputs": len(turns)})
        merged += 1
    report.note("multi_output_sessions_joined", merged,
                f"{merged} agent-loop session(s) wrote several outputs (uid ..._<session>_<k>): each is joined "
                "into one response (its turns in order, the last output's score), one answer of its group")
    return joined


def warn_oversized(read: ReadFiles, options: LoadOptions) -> ReadFiles:
    """Count, per file, the groups larger than their run's usual group size (two data-set items with the
    same prompt text at one step fall into one (step, input) group). The groups are kept as they are."""
    sizes: dict[tuple, Counter] = {}
    per_file = []
    for report, frame in read:
        table = frame.group_by("lineage", "phase", "split", "step", "group_id").agg(pl.len().alias("size"))
        per_file.append(table)
        for lineage, phase, split, size in table.select("lineage", "phase", "split", "size").iter_rows():
            sizes.setdefault((lineage, phase, split), Counter())[size] += 1
    usual = {run: min(counts, key=lambda s: (-counts[s], s)) for run, counts in sizes.items()}
    for (report, _), table in zip(read, per_file):
        big = [(size, usual[(lineage, phase, split)]) for lineage, phase, split, size in
               table.select("lineage", "phase", "split", "size").iter_rows()
               if size > usual[(lineage, phase, split)]]
        if big:
            shown = ", ".join(sorted({f"{size} rows (usual {normal})" for size, normal in big}))
            report.note("oversized_groups", len(big),
                        f"{len(big)} group(s) hold more rows than the run's usual group size: {shown}. Two data-set "
                        "items with the same prompt text at one step share (step, input) and are scored as one "
                        "group; to keep them apart, dump with uid (verl's v1 trainer writes it) or give the items "
                        "distinct prompts")
    return read


FORMAT = Format(name="verl", title="verl rollout dump", columns=("input", "output"), read=read, finish=warn_oversized)

"""TRL ``GRPOTrainer`` completion logs: ``<output_dir>/completions/completions_{step:05d}.parquet``.

Written with ``log_completions=True`` (TRL >= 0.28; checked against files TRL
1.16 wrote): columns ``step``, ``prompt``, ``completion``, one column per
reward function, ``log_extra`` columns, ``advantage``. What the reader does
with them, following TRL's own semantics:

- Groups: the rows carry no group id. Each prompt's ``num_generations``
  completions are consecutive rows, so ``group_size`` is required, and a
  block of ``group_size`` rows that does not share one prompt is refused
  (the size is wrong) rather than scored as a mixed group.
- Conversational data sets: ``prompt`` and ``completion`` are lists of
  ``{role, content}`` messages; the text is the messages' contents joined by
  blank lines, and the roles are kept in ``prompt_roles`` / ``response_roles``.
- Reward: the reward columns are the file's float columns TRL did not write
  itself (narrowed to the run's reward functions when ``trainer_state.json``
  names them), chosen from the schema, never from row values. A function
  returns None where it does not apply (a null in the file); ``reward`` is
  TRL's total, the nansum of the weighted columns (``reward_weights``), and
  null when every column is null (TRL marks such a row unscorable). The
  columns are kept as they were.
- Re-logged batches: with ``steps_per_generation > 1`` (or ``num_iterations >
  1``) TRL writes the same generation batch again at each optimizer step with
  only ``step`` changed (:func:`drop_relogged`). Gradient accumulation alone
  does not (a new batch every optimizer step, verified on TRL 1.16's files);
  the check reads the files, not the config, so both cases are right.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import each_row, integer, number, put_messages, to_frame
from rollout_common.errors import InputError

if TYPE_CHECKING:
    from diversity.load.formats.base import ReadFiles
    from diversity.load.options import LoadOptions

# Columns TRL writes beside the reward functions' own.
_NOT_REWARDS = {"step", "prompt", "completion", "advantage", "image", "images"}


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    size = _group_size(records, options)
    columns = reward_columns(records)
    weights = _weights(records, columns, options.reward_weights)
    report.reward = _describe(columns, weights, options.reward_weights is not None)
    rows, unscored = [], 0
    for index, (_, record, guard) in enumerate(each_row(records, report, options.skip_bad_rows)):
        with guard:
            row = {k: v for k, v in record.items() if k not in ("prompt", "completion")}
            put_messages(row, record)
            row["step"] = integer(record, "step")
            row["reward"] = _total([number(record, name) for name in columns], weights)
            unscored += row["reward"] is None and bool(columns)
            row["group_id"] = f"{index // size:05d}"
        if not guard.failed:
            rows.append(row)
    _check_blocks(records, rows, size)
    report.note("rows_without_reward", unscored,
                f"{unscored} row(s) have no reward: every reward function returned None for them (TRL's "
                "'unscorable' completions); their reward is null, and metrics that need a reward skip them")
    return to_frame(rows)


def _group_size(records: Records, options: LoadOptions) -> int:
    size = options.group_size
    if size is None:
        raise InputError(
            records.path, "TRL completion dumps have no group id", field="group_size",
            fix="pass --group-size (group_size=) equal to the run's num_generations",
        )
    if len(records.rows) % size:
        raise InputError(
            records.path, f"{len(records.rows)} rows do not divide into groups of {size}",
            field="group_size", fix="check --group-size against the run's num_generations",
        )
    return size


def reward_columns(records: Records) -> list[str]:
    """The reward functions' columns, in the file's order (the order of ``reward_weights``).

    From the schema: Parquet float columns (a reward function's values are
    always floats, nulls included) that TRL did not write itself; in a JSONL
    or CSV copy, the columns whose every value is a number or null. When the
    run's ``trainer_state.json`` logs ``rewards/<name>/mean``, only those
    names count, so a float ``log_extra`` column is not summed.
    """
    candidates = [c for c in records.order if c not in _NOT_REWARDS]
    if records.dtypes:
        found = [c for c in candidates if records.dtypes[c].is_float() or records.dtypes[c] == pl.Null]
    else:
        found = [c for c in candidates if all(_is_number(r.get(c)) for _, r in records.rows)]
    logged = _logged_reward_names(records.path)
    return [c for c in found if c in logged] if logged else found


def _is_number(value) -> bool:
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def _logged_reward_names(path: Path) -> set[str]:
    """Reward function names from the run's trainer_state.json (``rewards/<name>/mean``), if there is one."""
    output_dir = path.resolve().parent.parent if path.resolve().parent.name == "completions" else None
    if output_dir is None:
        return set()
    states = [output_dir / "trainer_state.json", *sorted(output_dir.glob("checkpoint-*/trainer_state.json"))]
    for state in (s for s in states if s.is_file()):
        try:
            history = json.loads(state.read_text(encoding="utf-8")).get("log_history", [])
        except (OSError, ValueError, AttributeError):
            continue
        names = {key.split("/")[1] for entry in history if isinstance(entry, dict) for key in entry
                 if key.startswith("rewards/") and key.endswith("/mean") and key.count("/") == 2}
        if names:
            return names
    return set()


def _weights(records: Records, columns: list[str], given: tuple[float, ...] | None) -> tuple[float, ...]:
    if given is None:
        return (1.0,) * len(columns)
    if len(given) != len(columns):
        raise InputError(
            records.path, f"{len(given)} reward weight(s) given for {len(columns)} reward column(s) "
                          f"({', '.join(columns) or 'none'})", field="reward_weights",
            fix="give one weight per reward column, in this order (the run's GRPOConfig.reward_weights)",
        )
    return given


def _describe(columns: list[str], weights: tuple[float, ...], weighted: bool) -> str:
    if not columns:
        return "no reward columns: reward is null"
    terms = " + ".join(f"{w:g}·{c}" if weighted else c for c, w in zip(columns, weights))
    source = "weights from --reward-weights" if weighted else "weights 1; pass --reward-weights if the run set reward_weights"
    return f"{terms}, nulls skipped (TRL's nansum; {source})"


def _total(values: list[float | None], weights: tuple[float, ...]) -> float | None:
    """TRL's total reward: the nansum of the weighted values; None when every value is None."""
    present = [w * v for v, w in zip(values, weights) if v is not None]
    return math.fsum(present) if present else None


def _check_blocks(records: Records, rows: list[dict], size: int) -> None:
    """Every block of ``size`` consecutive rows must share its prompt; else ``size`` is not num_generations."""
    prompts: dict[str, set[str]] = {}
    for row in rows:
        prompts.setdefault(row["group_id"], set()).add(row["prompt"])
    for group, held in prompts.items():
        if len(held) > 1:
            start = int(group) * size
            runs = _run_lengths([row["prompt"] for row in rows])
            raise InputError(
                records.path, f"rows {start + 1}-{start + size} (one group of --group-size {size}) hold "
                              f"{len(held)} different prompts", field="group_size",
                fix=f"TRL writes each prompt's num_generations completions as consecutive rows; here the prompt "
                    f"changes after runs of {', '.join(map(str, sorted(set(runs))))} rows, so pass "
                    f"--group-size {math.gcd(*runs)} (or a divisor of it: the run's num_generations)",
            )


def _run_lengths(values: list[str]) -> list[int]:
    runs, count = [], 1
    for before, after in zip(values, values[1:]):
        if after == before:
            count += 1
        else:
            runs.append(count)
            count = 1
    return [*runs, count]


def drop_relogged(read: ReadFiles, options: LoadOptions) -> ReadFiles:
    """Drop files that repeat the previous logged step's rows with only ``step`` changed.

    TRL keeps the last generation batch in deques and writes them at every
    logging step; with ``steps_per_generation > 1`` one batch is written at
    each optimizer step until the next generation. Such a file is not new
    groups: it is kept once, at the step it was first logged. Only a file
    identical to the one logged just before it in the same run (lineage,
    phase, split) is dropped, so a prompt answered the same way in a later
    epoch is never taken for a re-log.
    """
    previous: dict[tuple, pl.DataFrame] = {}
    first_step: dict[tuple, int] = {}
    kept = {}
    by_step = sorted(read, key=lambda pair: _first(pair[1], "step"))
    for report, frame in by_step:
        if frame.height == 0:
            kept[id(report)] = (report, frame)
            continue
        run = (_first(frame, "lineage"), _first(frame, "phase"), _first(frame, "split"))
        content = frame.drop("step")
        before = previous.get(run)
        previous[run] = content
        if before is not None and before.equals(content):
            report.repeated_elsewhere(frame.height)
            report.note("relogged_rows_dropped", frame.height,
                        f"{frame.height} rows repeat the batch first logged at step {first_step[run]} with only "
                        f"'step' changed (TRL re-logs a generation batch at every optimizer step when "
                        f"steps_per_generation or num_iterations > 1): dropped, kept once at step {first_step[run]}")
            frame = frame.clear()
        else:
            first_step[run] = _first(frame, "step")
        kept[id(report)] = (report, frame)
    return [kept[id(report)] for report, _ in read]


def _first(frame: pl.DataFrame, column: str):
    return frame[column][0] if frame.height else -1


FORMAT = Format(name="trl", title="TRL GRPOTrainer completions", columns=("prompt", "completion"), read=read,
                finish=drop_relogged)

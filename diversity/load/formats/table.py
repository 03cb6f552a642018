"""A table of your own: JSONL, Parquet, CSV, or a Hugging Face ``save_to_disk`` folder's ``data-*.arrow``.

Two shapes, told apart per row by the ``response`` column's value:

- one row per response (a string): rows sharing (step, ``group_id``) are a
  group; without a ``group_id`` column, rows sharing (step, prompt);
- one row per group (a list of responses, e.g. a ``generations`` column):
  each element is one response, ``reward`` (and ``entropy``, ``n_tokens``)
  then a list of one value per response (or null); ``group_id`` is the
  row's, else a hash of the prompt (rows repeating a prompt at one step are
  counted: they are pooled into one group).

Which column holds which canonical field is ``LoadOptions.columns``
(``--columns prompt=question,response=answer,group_id=uid,step=iteration,
reward=score``); a file holding every named column is read as this format.
Without a mapping each field is read from its own name, and a table with
``prompt``, ``generations`` and ``rewards`` columns is detected as this
format (``response`` from ``generations``, ``reward`` from ``rewards``).
Defaults: ``step`` 0, ``split`` train, ``lineage`` the folder's name. Prompts
and responses may be ``{role, content}`` message lists. Every other column
is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from diversity import schema
from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import BadRow, DroppedRow, each_row, integer, message_text, number, string, text_id, to_frame
from rollout_common.errors import InputError

if TYPE_CHECKING:
    from diversity.load.options import LoadOptions

# Without a mapping, the column a field falls back to when the table has no column of the field's own name.
_FALLBACK = {"response": "generations", "reward": "rewards"}
_LABELS = ("lineage", "phase", "task")


def _count(record: dict, name: str) -> int | None:
    return integer(record, name, required=False)


# Fields with one value per response; each field's check.
_PER_RESPONSE = {"reward": number, "entropy": number, "n_tokens": _count}


def claims(columns: set[str], options: LoadOptions) -> bool:
    """A ``columns=`` mapping claims every file holding all the columns it names."""
    return options.columns is not None and set(options.columns.values()) <= columns


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    mapping = _mapping(records, options)
    if mapping.get("reward", "reward") != "reward":
        report.reward = f"the '{mapping['reward']}' column"
    rows, seen, pooled, empty = [], set(), 0, 0
    for _, record, guard in each_row(records, report, options.skip_bad_rows):
        with guard:
            group_rows = _convert(record, mapping)
            if not group_rows:  # an empty list of responses
                empty += 1
                raise DroppedRow()
        if not guard.failed:
            if isinstance(record.get(mapping["response"]), list) and "group_id" not in mapping:
                key = (group_rows[0]["step"], group_rows[0]["group_id"])
                pooled += key in seen
                seen.add(key)
            rows.extend(group_rows)
    report.note("empty_groups", empty, f"{empty} row(s) hold an empty list of responses: no rows from them")
    report.note("rows_pooled_by_prompt", pooled,
                f"{pooled} row(s) of responses repeat an earlier row's prompt at the same step and are pooled into "
                "its group (no group_id column); map one (--columns group_id=COLUMN) to keep them apart")
    return to_frame(rows)


def _mapping(records: Records, options: LoadOptions) -> dict[str, str]:
    """{canonical field: this file's column} for the fields the file has; prompt and response required."""
    given = options.columns or {}
    mapping = {}
    for field in schema.COLUMNS:
        if field in given:
            mapping[field] = given[field]
        elif field in records.columns:
            mapping[field] = field
        elif not given and _FALLBACK.get(field) in records.columns:
            mapping[field] = _FALLBACK[field]
    missing = sorted({c for c in given.values() if c not in records.columns}
                     | {f for f in ("prompt", "response") if f not in mapping})
    if missing:
        raise InputError(records.path, f"no column {', '.join(map(repr, missing))} (columns are "
                                       f"{', '.join(records.order)})", field="columns",
                         fix="name the file's columns: --columns prompt=COLUMN,response=COLUMN,...")
    return mapping


def _convert(record: dict, mapping: dict[str, str]) -> list[dict]:
    """One record's canonical rows: one, or one per element of a list-valued response column."""
    used = set(mapping.values())
    base = {k: v for k, v in record.items() if k not in used}
    base["prompt"], prompt_roles = message_text(record, mapping["prompt"])
    if prompt_roles is not None:
        base["prompt_roles"] = prompt_roles
    for field in _LABELS:
        if field in mapping:
            base[field] = string(record, mapping[field], required=False)
    base["step"] = integer(record, mapping["step"]) if "step" in mapping else 0
    if "split" in mapping:
        base["split"] = _split(record, mapping["split"])
    given_group = string(record, mapping["group_id"]) if "group_id" in mapping else None
    base["group_id"] = given_group if given_group is not None else text_id(base["prompt"])
    responses = record.get(mapping["response"])
    if not isinstance(responses, list) or _is_messages(responses):
        row = {**base, **{f: convert(record, mapping[f]) for f, convert in _PER_RESPONSE.items() if f in mapping}}
        row["response"], response_roles = message_text(record, mapping["response"])
        if response_roles is not None:
            row["response_roles"] = response_roles
        return [row]
    per_response = {f: _values(record, mapping[f], len(responses), convert)
                    for f, convert in _PER_RESPONSE.items() if f in mapping}
    rows = []
    for index in range(len(responses)):
        text, _ = message_text({mapping["response"]: responses[index]}, mapping["response"])
        rows.append({**base, **{f: values[index] for f, values in per_response.items()}, "response": text})
    return rows


def _is_messages(value: list) -> bool:
    """A list of ``{role, content}`` dicts is one response (a conversation), not a list of responses."""
    return bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _values(record: dict, column: str, size: int, convert) -> list:
    """A per-response column of a one-row-per-group table: a list of ``size`` values, or null for all."""
    values = record.get(column)
    if values is None:
        return [None] * size
    if not isinstance(values, list) or len(values) != size:
        found = f"{len(values)} values" if isinstance(values, list) else type(values).__name__
        raise BadRow(column, f"expected a list of {size} values (one per response), found {found}")
    return [convert({column: value}, column) if value is not None else None for value in values]


def _split(record: dict, column: str) -> str | None:
    value = string(record, column, required=False)
    if value is not None and value not in schema.SPLITS:
        raise BadRow(column, f"{value!r} is neither 'train' nor 'eval'")
    return value


FORMAT = Format(name="table", title="table of your own columns", columns=("prompt", "generations", "rewards"),
                read=read, claims=claims)

"""OpenAI Batch API output files and vLLM ``run_batch`` output: one JSON line per request.

Each line is ``{"id", "custom_id", "response": {"status_code", "request_id",
"body"}, "error"}``; ``body`` is a ``chat.completion`` (or ``text_completion``)
whose ``choices`` are the request's ``n`` samples. Lines are not in input
order (OpenAI), so everything is keyed by ``custom_id``.

- Groups: one request (``group_id`` = ``custom_id``) is one group of its
  choices, each choice one row (``choice_index``, ``finish_reason`` kept).
- The output file holds no prompt text: ``prompt`` is the ``custom_id``
  (the same id the batch input file gives its messages), said once per file.
- Failed requests (``error`` set, a ``status_code`` other than 200, a body
  holding ``error`` or no choices: expired, invalid, rate limited) have no
  samples: counted with their ids, never dropped silently. A ``custom_id``
  seen twice is a bad row.
- ``lineage`` is the body's ``model``, else the folder's name; ``split``
  eval, ``step`` 0; ``reward`` null.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import BadRow, DroppedRow, each_row, preview, string, to_frame

if TYPE_CHECKING:
    from diversity.load.options import LoadOptions

_SHOWN = 5  # failed request ids a note names


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    rows, seen, failed = [], {}, []
    for location, record, guard in each_row(records, report, options.skip_bad_rows):
        with guard:
            custom_id = string(record, "custom_id")
            if custom_id in seen:
                raise BadRow("custom_id", f"{custom_id!r} is also on line {seen[custom_id]}",
                             "a batch output has one line per request; remove the repeat")
            problem = _failure(record)
            samples = [] if problem else _choices(record, custom_id)
            seen[custom_id] = location
            if problem:
                failed.append(f"{custom_id} ({problem})")
                raise DroppedRow()
        if not guard.failed:
            rows.extend(samples)
    shown = "; ".join(failed[:_SHOWN]) + ("; ..." if len(failed) > _SHOWN else "")
    report.note("failed_requests", len(failed),
                f"{len(failed)} request(s) failed and have no samples: {shown}; re-submit them to score them")
    report.note("prompts_are_custom_ids", len(seen) - len(failed),
                "the batch output holds no prompt text: each group's prompt is its request's custom_id "
                f"({len(seen) - len(failed)} group(s))")
    return to_frame(rows)


def _failure(record: dict) -> str | None:
    """Why the request has no samples, or None when it succeeded."""
    error, response = record.get("error"), record.get("response")
    if error is not None:
        return _error_text(error)
    if not isinstance(response, dict):
        return "no response"
    status, body = response.get("status_code"), response.get("body")
    if isinstance(body, dict) and body.get("error") is not None:
        return f"status {status}: {_error_text(body['error'])}"
    if status != 200:
        return f"status {status}"
    if not isinstance(body, dict) or not body.get("choices"):
        return "no choices in the response body"
    return None


def _error_text(error) -> str:
    if isinstance(error, dict):
        return str(error.get("code") or error.get("type") or error.get("message") or "error")
    return str(error)[:80]


def _choices(record: dict, custom_id: str) -> list[dict]:
    body = record["response"]["body"]
    choices = body["choices"]
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise BadRow("response.body.choices", f"expected a list of choice objects, found {preview(choices)}")
    model = body.get("model") if isinstance(body.get("model"), str) else None
    rows = []
    for number, choice in enumerate(choices):
        text = _choice_text(choice)
        if text is None:
            raise BadRow(f"response.body.choices[{number}]", "has neither message.content nor text")
        rows.append({"prompt": custom_id, "response": text, "group_id": custom_id, "custom_id": custom_id,
                     "choice_index": choice.get("index", number), "finish_reason": choice.get("finish_reason"),
                     "lineage": model, "step": 0, "split": "eval"})
    return rows


def _choice_text(choice: dict) -> str | None:
    """A chat choice's ``message.content`` (null for a pure tool call: empty text), or a completion's ``text``."""
    message = choice.get("message")
    if isinstance(message, dict):
        content = message.get("content")
        return content if isinstance(content, str) else ("" if content is None else None)
    text = choice.get("text")
    return text if isinstance(text, str) else None


FORMAT = Format(name="batch", title="OpenAI / vLLM batch output", columns=("custom_id", "response"), read=read)

"""lm-evaluation-harness ``--log_samples``: ``{output_path}/{model}/samples_{task}_{date}.jsonl``.

Checked against files lm-eval 0.4.13 wrote. A generation task with
``repeats: k`` writes, per document, ``resps: [[r1, ..., rk]]`` (the k
samples of its one request), and one line per **(document, filter)**: the
same ``resps`` again under each filter, with that filter's
``filtered_resps`` and metric values (``exact_match``, ...).

- Groups: one document is one group of its k samples (``group_id`` = task +
  ``doc_id``). A document's later lines (its other filters) are
  de-duplicated on ``doc_id`` and counted; their ``resps`` must equal the
  first line's.
- Metrics: each line's metric values are kept as columns named
  ``"{metric},{filter}"`` (as lm-eval's results file names them) on every
  row of the document, so no filter's numbers are lost. ``reward`` is the
  first metric under the document's first filter (lm-eval writes the task's
  filters in its configured order, so the first one); metrics are
  per-document, so every sample of a document has the same reward (the
  filter it came from is in ``reward_filter``).
- ``prompt`` is the request's context (``arguments.gen_args_0.arg_0``),
  ``task`` the task name from the file name, ``split`` eval, ``step`` 0;
  ``lineage`` the model folder's name.
- Loglikelihood tasks (no generations) are refused: their ``resps`` hold
  scores, not samples.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import polars as pl

from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import BadRow, DuplicateRow, each_row, integer, number, string, to_frame

if TYPE_CHECKING:
    from diversity.load.options import LoadOptions

# samples_{task}_{date}.jsonl, the date as lm-eval writes it: 2026-12-01T10-01-55.451116
_FILE_NAME = re.compile(r"^samples_(?P<task>.+)_\d{4}-\d{2}-\d{2}T[\d.-]+$")
_PER_LINE = ("resps", "filtered_resps", "filter", "metrics", "arguments")


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    match = _FILE_NAME.match(records.path.stem)
    task = match["task"] if match else records.path.stem
    documents: dict[int, dict] = {}  # doc_id -> the first line's fields, samples and every filter's metrics
    repeated = 0
    for location, record, guard in each_row(records, report, options.skip_bad_rows):
        with guard:
            doc_id = integer(record, "doc_id")
            samples = _samples(record)
            label = string(record, "filter", required=False) or "none"
            metrics = _metrics(record, label)
            first = documents.get(doc_id)
            if first is not None and first["samples"] != samples:
                raise BadRow("resps", f"differs from line {first['location']}'s for doc_id {doc_id} (one document's "
                                      "filters share its samples)")
            if first is not None:  # its metrics join the document's; its samples are the document's
                first["metrics"].update(metrics)
                repeated += 1
                raise DuplicateRow()
            fields = {k: v for k, v in record.items() if k not in _PER_LINE and k not in (record.get("metrics") or ())}
            documents[doc_id] = {"location": location, "samples": samples, "prompt": _prompt(record),
                                 "fields": fields, "reward": next(iter(metrics.values()), None), "filter": label,
                                 "metrics": dict(metrics)}
    report.note("filter_rows_deduplicated", repeated,
                f"{repeated} line(s) repeat a document's samples under another filter: de-duplicated on doc_id (one "
                "group per document); each filter's metrics are kept as '<metric>,<filter>' columns")
    filters = sorted({doc["filter"] for doc in documents.values()})
    report.reward = (f"the first metric under each document's first filter ({', '.join(filters)}); "
                     "every metric,filter pair kept as a column")
    rows = []
    for doc_id, doc in documents.items():
        for text in doc["samples"]:
            rows.append({**doc["fields"], **doc["metrics"], "prompt": doc["prompt"], "response": text,
                         "reward": doc["reward"], "group_id": f"{task}:{doc_id}", "task": task, "step": 0,
                         "split": "eval", "reward_filter": doc["filter"]})
    return to_frame(rows)


def _samples(record: dict) -> list[str]:
    """The k generations of the document's one request: ``resps`` is ``[[r1, ..., rk]]``."""
    resps = record.get("resps")
    if not isinstance(resps, list) or len(resps) != 1 or not isinstance(resps[0], list):
        found = f"{len(resps)} requests" if isinstance(resps, list) else type(resps).__name__
        raise BadRow("resps", f"expected one request's generations [[r1, ..., rk]], found {found}",
                     "only generate_until tasks have samples to score")
    if not all(isinstance(text, str) for text in resps[0]):
        raise BadRow("resps", "holds scores, not generated text (a loglikelihood task)",
                     "only generate_until tasks have samples to score")
    return resps[0]


def _prompt(record: dict) -> str:
    """The request's context: ``arguments`` is ``{"gen_args_0": {"arg_0": context, "arg_1": kwargs}}``
    (lm-eval 0.4.x), or ``[[context, kwargs]]`` in older files."""
    arguments = record.get("arguments")
    if isinstance(arguments, dict):
        request = arguments.get("gen_args_0")
        context = request.get("arg_0") if isinstance(request, dict) else None
    elif isinstance(arguments, list) and arguments:
        request = arguments[0]
        context = request[0] if isinstance(request, list) and request else request
    else:
        context = None
    if not isinstance(context, str):
        raise BadRow("arguments", "has no request context (gen_args_0.arg_0) to use as the prompt")
    return context


def _metrics(record: dict, label: str) -> dict[str, float | None]:
    """This line's metric values as ``{"metric,filter": value}``, in the order of its ``metrics`` list."""
    names = record.get("metrics")
    if names is None:
        return {}
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadRow("metrics", "expected a list of metric names")
    return {f"{name},{label}": number(record, name) for name in names if name in record}


FORMAT = Format(name="lm_eval", title="lm-evaluation-harness samples", columns=("doc_id", "resps"), read=read)

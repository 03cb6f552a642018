"""slime rollout dumps: ``--dump-details D`` writes ``D/rollout_data/{rollout_id}.pt`` (eval: ``eval_{id}.pt``).

Each file is ``torch.save({"rollout_id": id, "samples": [Sample.to_dict(), ...]})``
(THUDM/slime@624b824a8 ``save_debug_rollout_data``). It is read with
``torch.load(weights_only=True)`` only (``records.read_torch_file``): a file
holding pickled objects (``slime.utils.types.Sample`` itself) is refused in
one line, never unpickled with code.

- Groups: ``group_index`` (global: it grows across rollouts), so
  ``group_id`` is its text.
- ``step`` is the payload's ``rollout_id``, else the number in the file
  name; ``eval_{id}.pt`` is ``split`` eval.
- ``prompt``: the chat-templated string, or a list of ``{role, content}``
  messages (text joined by blank lines, roles in ``prompt_roles``).
- ``reward``: a float, or a dict whose ``score`` entry is the reward (the
  whole dict kept as ``reward_details``); None (an aborted sample) is null.
- Samples with ``status`` aborted (generation stopped, empty response) are
  not answers: dropped and counted. ``n_tokens`` is ``response_length``.
- Kept: ``index``, ``label``, ``status``, ``metadata``, ``weight_versions``
  and the other small fields; the per-token arrays (``tokens``,
  ``rollout_log_probs``, ``loss_mask``, ...) are left out.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import polars as pl

from diversity.load.formats.base import Format
from diversity.load.records import Records
from diversity.load.result import FileReport
from diversity.load.rows import BadRow, DroppedRow, each_row, fits_int64, integer, message_text, number, preview, string, to_frame
from rollout_common.errors import InputError

if TYPE_CHECKING:
    from diversity.load.options import LoadOptions

# Sample fields that hold one value per token (or multimodal payloads): too big for a row, not text.
_PER_TOKEN = ("tokens", "loss_mask", "rollout_log_probs", "rollout_top_p_token_ids", "rollout_top_p_token_offsets",
              "rollout_routed_experts", "teacher_log_probs", "multimodal_inputs", "multimodal_train_inputs",
              "multimodal_train_input_id")
_READ = ("group_index", "prompt", "response", "reward", "response_length", "rollout_id")
_FILE_NAME = re.compile(r"^(?P<eval>eval_)?(?P<id>\d+)$")
_ABORTED = "aborted"


def read(records: Records, report: FileReport, options: LoadOptions) -> pl.DataFrame:
    step, split = _step_and_split(records)
    rows, aborted = [], 0
    for _, record, guard in each_row(records, report, options.skip_bad_rows):
        with guard:
            row = {k: v for k, v in record.items() if k not in _PER_TOKEN and k not in _READ}
            row["group_id"] = str(integer(record, "group_index"))
            row["prompt"], prompt_roles = message_text(record, "prompt")
            if prompt_roles is not None:
                row["prompt_roles"] = prompt_roles
            row["response"] = string(record, "response")
            row["reward"], details = _reward(record)
            if details is not None:
                row["reward_details"] = details
            row["n_tokens"] = integer(record, "response_length", required=False)
            row.update(step=step, split=split)
            if record.get("status") == _ABORTED:
                aborted += 1
                raise DroppedRow()
        if not guard.failed:
            rows.append(row)
    report.note("aborted_samples_dropped", aborted,
                f"{aborted} sample(s) have status 'aborted' (generation stopped before an answer): dropped, so "
                "their groups are smaller")
    return to_frame(rows)


def _step_and_split(records: Records) -> tuple[int, str]:
    """The rollout id (the payload's, else the file name's) and whether the file is an eval dump."""
    match = _FILE_NAME.match(records.path.stem)
    split = "eval" if match and match["eval"] else "train"
    rollout_id = records.header.get("rollout_id")
    if isinstance(rollout_id, int) and not isinstance(rollout_id, bool) and fits_int64(rollout_id):
        return rollout_id, split
    if match and fits_int64(int(match["id"])):
        return int(match["id"]), split
    raise InputError(records.path, f"no rollout id: 'rollout_id' is {preview(rollout_id)} and the file name is not "
                                   "'{rollout_id}.pt' or 'eval_{rollout_id}.pt' (an id of at most 64 bits)",
                     field="rollout_id",
                     fix="keep slime's file names (rollout_data/{rollout_id}.pt)")


def _reward(record: dict) -> tuple[float | None, dict | None]:
    """The reward, and the dict it came from when slime wrote several values (``{"score", "acc", ...}``)."""
    value = record.get("reward")
    if not isinstance(value, dict):
        return number(record, "reward"), None
    if "score" in value:
        key = "score"
    elif len(value) == 1:
        (key,) = value
    else:
        raise BadRow("reward", f"a dict without 'score' ({', '.join(map(str, value))}): which entry is the reward "
                               "is not known", "write the reward under 'score' (slime's --reward-key)")
    return number(value, key), value


FORMAT = Format(name="slime", title="slime rollout dump", columns=("group_index", "prompt", "response"), read=read)

"""The interactive report's data: what the page's own script draws, filters and opens, as plain JSON.

:func:`page_data` turns an :class:`~diversity.report.Analysis` into one
JSON-serialisable dict (version 1):

- ``lineages``, ``colors`` (the figures' colours), ``parents`` (fork → parent),
  ``boundaries`` ([phase, first step] for each phase after the first),
  ``metrics`` (name, direction, description, from the registry);
- ``steps``: one row per (lineage, phase, step, split) for every step in the
  inputs: groups, answers, mean reward, entropy and tokens, and each scored
  metric's mean and standard error;
- ``entropy`` (lineage, phase, step, entropy, se) and ``eval_reward``
  (lineage, phase, task, step, reward, se): the figures' series, seeds averaged;
- ``groups``: the scored groups the page carries (see :func:`select_groups`),
  each with its keys, task, prompt, size, mean reward, metric values and its
  answers folded: [text, count, reward, tokens], the most frequent first;
- ``selection``: which groups those are, and the rule in one sentence;
- ``texts``: every prompt and answer once; rows refer to them by index.

Tables are ``{"columns": [...], "rows": [[...], ...]}``; floats keep 4
significant digits; NaN is null. :func:`embed_json` writes the dict so that
no log text can end the ``<script type="application/json">`` element holding
it, and :func:`seal` fills the page's Content-Security-Policy with the hash of
every inline style and script, so the browser runs nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import secrets
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING

import polars as pl

from diversity.plots import lineage_colors, phase_boundaries
from diversity.schema import GROUP_KEYS
from diversity.streaming.groups import FOLDED, FOLDED_BYTES
from rollout_common.errors import OptionError

if TYPE_CHECKING:
    from diversity.analysis import Analysis

FORMAT_VERSION = 1
SUMMARY_KEYS = ("lineage", "phase", "step", "split")
# Estimated bytes of group data (answers and prompts) the page carries when no rule is given: the
# shipped experiment's 3,640 eval groups fit whole; a long log's groups are sampled to stay under 5 MB.
GROUP_BUDGET = 3_000_000
CSP_SLOT = "rd-content-security-policy"
_APP_SCRIPT = re.compile(r"<script data-rd-app>(.*?)</script>", re.S)
_STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def page_data(
    analysis: "Analysis",
    *,
    group_steps: Sequence[int] | None = None,
    groups_per_step: int | None = None,
    budget: int = GROUP_BUDGET,
    progress: bool = False,
) -> dict:
    """Everything the page's script shows, from one analysis (nothing is re-scored; the logs' rows of the
    groups carried are read again)."""
    from diversity.metrics.registry import METRICS

    metrics = list(analysis.metric_names)
    summary = analysis.scores.summary
    steps = step_table(analysis.logs.steps if analysis.logs is not None else None, summary, metrics)
    chosen, rule = select_groups(analysis.scores, group_steps=group_steps, groups_per_step=groups_per_step,
                                 budget=budget)
    answers = None
    if analysis.logs is not None:
        keys = chosen.select(GROUP_KEYS)
        answers = fold_answers(analysis.logs.matching(keys, progress), keys)
    rule += _unscored_note(steps, summary)
    texts = _Texts()
    lineages = sorted(set(steps["lineage"].to_list()) | set(analysis.entropy["lineage"].to_list()))
    boundary_rows = pl.concat([steps.select("phase", "step"), analysis.entropy.select("phase", "step")])
    return {
        "version": FORMAT_VERSION,
        "lineages": lineages,
        "colors": lineage_colors(lineages),
        "parents": {child: parent for child, parent in analysis.parents.items() if parent in lineages},
        "boundaries": [list(b) for b in phase_boundaries(boundary_rows)] if boundary_rows.height else [],
        "metrics": [{"name": m, "higher_is_more_diverse": METRICS[m].higher_is_more_diverse,
                     "direction": METRICS[m].direction, "description": METRICS[m].description}
                    for m in metrics if m in METRICS],
        "steps": _table(steps),
        "entropy": _table(_mean_se(analysis.entropy, "entropy", ("lineage", "phase", "step"))),
        "eval_reward": _table(_mean_se(analysis.evals, "reward", ("lineage", "phase", "task", "step"))),
        "groups": _group_rows(chosen, answers, metrics, texts),
        "selection": {"rule": rule, "shown": chosen.height, "scored": analysis.scores.count,
                      "steps": sorted(set(chosen["step"].to_list()))},
        "texts": texts.items,
    }


# ---------------------------------------------------------------- tables


def step_table(totals: pl.DataFrame | None, summary: pl.DataFrame, metrics: Sequence[str]) -> pl.DataFrame:
    """Per (lineage, phase, step, split): counts and means from every rollout (``totals``: groups, answers,
    reward, entropy, tokens, as :meth:`diversity.streaming.step_totals.StepTotals.steps` gives them; None
    without logs), metric means from the scores."""
    if totals is not None:
        base = totals
    else:  # saved scores alone: their summary holds the counts and means
        base = summary.select(
            *SUMMARY_KEYS, "groups", pl.col("rollouts").alias("answers"),
            *[pl.col(f"{c}_mean").alias(c) if f"{c}_mean" in summary.columns else pl.lit(None, pl.Float64).alias(c)
              for c in ("reward", "entropy")],
            pl.lit(None, pl.Float64).alias("tokens"),
        )
    scored = summary.select(
        *SUMMARY_KEYS, pl.col("groups").alias("scored"),
        *[pl.col(f"{m}_{part}").alias(m if part == "mean" else f"{m}_se") for m in metrics for part in ("mean", "se")],
    )
    table = base.join(scored, on=SUMMARY_KEYS, how="full", coalesce=True) if summary.height else base
    if not summary.height:
        table = table.with_columns(pl.lit(0).alias("scored"))
    return table.with_columns(pl.col("scored").fill_null(0)).sort(SUMMARY_KEYS)


def _mean_se(frame: pl.DataFrame, value: str, keys: Sequence[str]) -> pl.DataFrame:
    """Mean per key with the standard error across the rows averaged (seeds); 0 for one row."""
    if frame.is_empty():
        return pl.DataFrame(schema={**{k: pl.String for k in keys}, "step": pl.Int64, value: pl.Float64, "se": pl.Float64})
    return frame.drop_nulls(value).group_by(*keys).agg(
        pl.col(value).mean(), pl.col(value).std().fill_null(0.0).truediv(pl.len().sqrt()).alias("se"),
    ).sort(*keys)


def fold_answers(rollouts: pl.DataFrame, keys: pl.DataFrame) -> pl.DataFrame:
    """Per group in ``keys``: its answers with identical text and reward folded into one with a count,
    the most frequent first, then in log order. Columns: GROUP_KEYS, ``answers`` (list of structs
    response, count, reward, tokens)."""
    rows = rollouts.with_row_index("_order").join(keys, on=list(GROUP_KEYS), how="semi")
    folded = rows.group_by(*GROUP_KEYS, "response", "reward").agg(
        pl.len().alias("count"), pl.col("n_tokens").first().alias("tokens"), pl.col("_order").min(),
    )
    folded = folded.sort(*GROUP_KEYS, "count", "_order", descending=[False] * len(GROUP_KEYS) + [True, False])
    return folded.group_by(GROUP_KEYS, maintain_order=True).agg(
        pl.struct("response", "count", "reward", "tokens").alias("answers")
    )


# ---------------------------------------------------------------- which groups the page carries


def select_groups(
    groups,
    *,
    group_steps: Sequence[int] | None = None,
    groups_per_step: int | None = None,
    budget: int = GROUP_BUDGET,
) -> tuple[pl.DataFrame, str]:
    """The scored groups the page carries, and the rule that chose them, as one sentence.

    ``groups``: a :class:`~diversity.streaming.groups.GroupTable` (read a whole step at a time).
    ``group_steps``: only groups at these steps. ``groups_per_step``: at each step, up to that many
    groups per (lineage, phase, split): those whose SHA-1 of prompt and group id is lowest, so every
    lineage keeps the same prompts. With neither, every group when their estimated size fits
    ``budget`` bytes, else the largest ``groups_per_step`` that fits."""
    if groups_per_step is not None and groups_per_step < 1:
        raise OptionError(f"--groups-per-step must be at least 1, got {groups_per_step}")
    scored_steps = sorted(set(groups.summary["step"].to_list()))
    where, steps = "", None
    if group_steps is not None:
        steps = sorted(set(int(s) for s in group_steps))
        missing = sorted(set(steps) - set(scored_steps))
        if missing:
            have = ", ".join(str(s) for s in scored_steps) or "none"
            raise OptionError(f"--group-steps {', '.join(map(str, missing))}: no scored groups at that step; "
                              f"scored steps: {have}")
        where = f" at step{'s' if len(steps) > 1 else ''} {', '.join(map(str, steps))}"
    limit = groups_per_step
    if limit is None and group_steps is None:
        limit = _fitting_limit(groups, budget)
    parts, candidates = [], 0
    for part in groups.steps():
        if steps is not None:
            part = part.filter(pl.col("step").is_in(steps))
        candidates += part.height
        parts.append(part if limit is None else _ranked(part).filter(pl.col("_rank") < limit).drop("_rank"))
    chosen = pl.concat(parts).drop(FOLDED, FOLDED_BYTES).sort(GROUP_KEYS) if parts else groups.empty()
    if limit is None or chosen.height == candidates:
        rule = f"All {chosen.height:,} scored groups{where} are in the page."
    else:
        rule = (f"{chosen.height:,} of {groups.count:,} scored groups are in the page{where}: at every step, up to "
                f"{limit} per lineage, phase and split, those whose SHA-1 of prompt and group id is lowest "
                f"(so every lineage keeps the same prompts).")
    return chosen, rule + " Choose others with --groups-per-step N or --group-steps STEP ... (build_report: "\
        "groups_per_step=, group_steps=)."


def _ranked(groups: pl.DataFrame) -> pl.DataFrame:
    """``groups`` with ``_rank``: 0, 1, ... within (lineage, phase, step, split) by the stable hash."""
    prompts = groups["prompt"].fill_null("").to_list() if "prompt" in groups.columns else [""] * groups.height
    digest = [int(hashlib.sha1(f"{p}\0{g}".encode()).hexdigest()[:15], 16)
              for p, g in zip(prompts, groups["group_id"].to_list())]
    keyed = groups.with_columns(pl.Series("_hash", digest, dtype=pl.Int64))
    return keyed.with_columns(
        (pl.col("_hash").rank("ordinal").over(SUMMARY_KEYS) - 1).alias("_rank")
    ).drop("_hash")


def _weights(ranked: pl.DataFrame) -> pl.DataFrame:
    """Estimated bytes each group adds to the page: its prompt, its folded answers (24 bytes of numbers
    each, beside the text), its numbers."""
    prompt_bytes = pl.col("prompt").str.len_bytes().fill_null(0) if "prompt" in ranked.columns else pl.lit(0)
    answer_bytes = pl.col(FOLDED_BYTES).fill_null(0) + 24 * pl.col(FOLDED).fill_null(0)
    return ranked.select("_rank", (prompt_bytes.cast(pl.Int64) + 160 + answer_bytes).alias("_bytes"))


def _fitting_limit(groups, budget: int) -> int | None:
    """None when every group fits ``budget``; else the largest per-step count that does (at least 1)."""
    per_rank = [_weights(_ranked(part)).group_by("_rank").agg(pl.col("_bytes").sum()) for part in groups.steps()]
    if not per_rank:
        return None
    per_rank = pl.concat(per_rank).group_by("_rank").agg(pl.col("_bytes").sum()).sort("_rank")
    if per_rank["_bytes"].sum() <= budget:
        return None
    cumulative = per_rank["_bytes"].cum_sum().to_list()
    return max(1, sum(1 for total in cumulative if total <= budget))


def _unscored_note(steps: pl.DataFrame, groups: pl.DataFrame) -> str:
    scored_splits = set(groups["split"].to_list())
    unscored = sorted(set(steps["split"].to_list()) - scored_splits)
    if not unscored:
        return ""
    names = " and ".join(unscored)
    return (f" The {names} groups were not scored (--score-splits), so they are in the per-step summaries "
            f"and charts only.")


# ---------------------------------------------------------------- serialising


class _Texts:
    """Every distinct string once; rows hold its index."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: str | None) -> int | None:
        if text is None:
            return None
        if text not in self._index:
            self._index[text] = len(self.items)
            self.items.append(text)
        return self._index[text]


def _group_rows(chosen: pl.DataFrame, answers: pl.DataFrame | None, metrics: Sequence[str], texts: _Texts) -> dict:
    if answers is not None:
        chosen = chosen.join(answers, on=list(GROUP_KEYS), how="left", maintain_order="left")
    columns = [*GROUP_KEYS, "task", "prompt", "size", "reward", *metrics, "answers"]
    rows = []
    for group in chosen.iter_rows(named=True):
        folded = [[texts(a["response"]), a["count"], _number(a["reward"]), a["tokens"]]
                  for a in group.get("answers") or []]
        rows.append([*(group[k] for k in GROUP_KEYS), group.get("task"), texts(group.get("prompt")),
                     group["group_size"], _number(group.get("reward_mean")),
                     *(_number(group[m]) for m in metrics), folded])
    return {"columns": columns, "rows": rows}


def _number(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return float(f"{value:.4g}") if isinstance(value, float) else value


def _table(frame: pl.DataFrame) -> dict:
    return {"columns": frame.columns, "rows": [[_number(v) for v in row] for row in frame.iter_rows()]}


def embed_json(data: dict) -> str:
    """``data`` as JSON that is inert inside ``<script type="application/json">``: ``<``, ``>``, ``&``
    and the line separators U+2028/2029 written as \\u escapes, so no log text can close the element,
    open a comment, or break a parser."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char in ("<", ">", "&", "\u2028", "\u2029"):
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


# ---------------------------------------------------------------- the page's code


def _asset(name: str) -> str:
    return resources.files("diversity.report").joinpath("assets", name).read_text(encoding="utf-8")


def app_html(data: dict, fragment: bool):
    """The interactive section: its style, its data and its script, under a root with a unique id
    (two reports in one notebook keep apart). Returns ``markupsafe.Markup``."""
    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("diversity.report", "assets"), autoescape=True, undefined=jinja2.StrictUndefined,
    )
    script, style = _asset("app.js"), _asset("app.css")
    if "</script" in script.lower() or "</style" in style.lower():
        raise ValueError("report/assets: app.js / app.css must not contain a closing tag")
    html = environment.get_template("interactive.html.j2").render(
        root_id=f"rd-{secrets.token_hex(6)}", fragment=fragment,
        data=Markup(embed_json(data)), script=Markup(script), style=Markup(style),
    )
    return Markup(html)


def seal(page: str) -> str:
    """Fill the page's policy slot: nothing from the network, only this page's own inline styles
    and the app's script, each allowed by the SHA-256 of its exact text (no 'unsafe-inline')."""
    slot = f'content="{CSP_SLOT}"'
    head = page[: page.find("</head>")]
    if slot not in head:
        raise ValueError("the page's <head> must hold the policy slot (<meta ... content=CSP_SLOT>)")
    policy = "; ".join([
        "default-src 'none'", "img-src data:",
        f"style-src {_hashes(_STYLE.findall(page))}", f"script-src {_hashes(_APP_SCRIPT.findall(page))}",
        "base-uri 'none'", "form-action 'none'",
    ])
    return page.replace(slot, f'content="{policy}"', 1)


def _hashes(texts: Sequence[str]) -> str:
    """CSP source list allowing exactly these inline texts; 'none' for none."""
    if not texts:
        return "'none'"
    digests = (base64.b64encode(hashlib.sha256(t.encode("utf-8")).digest()).decode("ascii") for t in dict.fromkeys(texts))
    return " ".join(f"'sha256-{d}'" for d in digests)

"""Diversity metrics in TRL's GRPOTrainer logs: two lines in a training script.

    from diversity.integrations.trl import DiversityCallback

    trainer.add_callback(DiversityCallback())        # or GRPOTrainer(..., callbacks=[DiversityCallback()])

Each generation batch's groups are scored by :class:`diversity.monitor.DiversityMonitor`
(keyword options pass through: ``embedder="minilm"``, ``rollout_log=``, ``alerts=``, ...)
and appear as ``diversity/<metric>`` in ``trainer.state.log_history``, the console and
every ``report_to`` backend (TensorBoard, wandb, trackio).

Where the data comes from (TRL 1.16.0, ``trl/trainer/grpo_trainer.py``); callbacks are
not handed the trainer, so the callback finds the one calling it at ``on_train_begin``:

- ``_generate_and_score_completions`` (lines 2833-2837) appends each generation batch
  (gathered from all processes, ``generation_batch_size`` rows, the ``num_generations``
  answers to one prompt consecutive) to the deques ``trainer._logs["prompt"|"completion"|
  "rewards"]``, whose length is that batch size (line 1088): after a generation they hold
  exactly that batch. They are filled whether or not ``log_completions`` is on.
- ``_prepare_inputs`` (lines 1537-1546) stores each new batch as a new list in
  ``trainer._buffered_inputs`` and reuses it for ``steps_per_generation x num_iterations``
  micro-steps. The callback
  looks after every micro-step (``on_substep_end``, ``on_step_end``) and takes the deques
  only when that list is a new object, so a batch TRL reuses, and writes again to
  ``completions_*.parquet`` at each logging step, is counted once: at the optimizer step
  it was generated in. Steps that reuse a batch carry no ``diversity/`` keys.
- Results go into ``trainer._metrics["train"]``, which ``GRPOTrainer.log`` (line 3302)
  averages over the logging window with TRL's own metrics. (``Trainer.log`` copies a log
  into ``log_history`` before ``on_log`` runs, so a callback cannot add keys there.) On
  the last step the callback waits for background embedding work so the final log has it.

Conversational prompts and completions (lists of messages) are scored as their message
contents, one message a line. Only the main process scores; eval batches are not scored.
"""

from __future__ import annotations

import inspect

import numpy as np
from transformers import TrainerCallback

from diversity.monitor import DiversityMonitor
from rollout_common.errors import OptionError

# What the callback reads from a GRPOTrainer (TRL 1.16.0).
_TRAINER_FIELDS = ("_logs", "_buffered_inputs", "_metrics", "reward_func_names", "reward_weights")


class DiversityCallback(TrainerCallback):
    """Logs diversity metrics of every GRPOTrainer generation batch; see the module doc.

    Args:
        num_generations: answers per prompt; None = the trainer's ``args.num_generations``.
        **options: keyword options of :class:`diversity.monitor.DiversityMonitor`.
    """

    def __init__(self, num_generations: int | None = None, **options):
        self.num_generations = num_generations
        self.options = options
        self.monitor: DiversityMonitor | None = None
        self._trainer = None
        self._seen = None  # the generation batch last scored (its _buffered_inputs list)

    def on_train_begin(self, args, state, control, **kwargs):
        if self.monitor is not None:  # train() called again
            self.monitor.close()
            self.monitor = None
        if not state.is_world_process_zero:
            return
        self._trainer = _calling_trainer(self)
        missing = [name for name in _TRAINER_FIELDS if not hasattr(self._trainer, name)]
        if missing:
            raise OptionError(f"DiversityCallback reads TRL's GRPOTrainer (1.16); {type(self._trainer).__name__} "
                              f"lacks {', '.join(missing)}")
        group_size = self.num_generations or getattr(args, "num_generations", None)
        if group_size is None:
            raise OptionError("DiversityCallback needs num_generations= (the trainer's args have none)")
        self.monitor = DiversityMonitor(group_size, **self.options)
        self._seen = self._trainer._buffered_inputs

    def on_substep_end(self, args, state, control, **kwargs):
        self._take(state.global_step + 1)  # inside optimizer step global_step + 1

    def on_step_end(self, args, state, control, **kwargs):
        if self.monitor is None:
            return
        self._take(state.global_step)
        # The last step waits for background work, so the final log carries every result.
        for result in self.monitor.collect(wait=control.should_training_stop):
            for key, value in result.values.items():
                self._trainer._metrics["train"][key].append(value)

    def on_train_end(self, args, state, control, **kwargs):
        if self.monitor is None:
            return
        late = self.monitor.close()  # training stopped before a last step (another callback stopped it)
        if late:
            state.log_history.append({**late, "step": state.global_step})
        self.monitor = None

    def _take(self, step: int) -> None:
        """Score the trainer's latest generation batch if it is one not seen yet."""
        if self.monitor is None or self._trainer._buffered_inputs is self._seen:
            return
        self._seen = self._trainer._buffered_inputs
        logs = self._trainer._logs
        prompts = [message_text(p) for p in logs["prompt"]]
        completions = [message_text(c) for c in logs["completion"]]
        self.monitor.observe(step, prompts, completions, _total_rewards(self._trainer))


def message_text(value) -> str:
    """A prompt or completion as text: a string as it is; a conversation as its messages' contents, one a line."""
    if isinstance(value, str):
        return value
    return "\n".join(_content_text(message.get("content")) for message in value)


def _content_text(content) -> str:
    if content is None:  # e.g. an assistant message holding only tool calls
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if part.get("type") == "text")


def _total_rewards(trainer) -> list[float]:
    """Each logged row's total reward as GRPOTrainer forms it: the nansum of the reward functions'
    columns times ``reward_weights``; NaN where every function returned None."""
    columns = np.array([list(trainer._logs["rewards"][name]) for name in trainer.reward_func_names], dtype=float)
    weights = trainer.reward_weights.detach().cpu().numpy().astype(float)[:, None]  # (F, 1)
    total = np.nansum(columns * weights, axis=0)  # (N,)
    total[np.isnan(columns).all(axis=0)] = np.nan
    return total.tolist()


def _calling_trainer(callback: TrainerCallback):
    """The Trainer whose callback handler is calling ``callback``: the nearest ``self`` up the stack
    that holds it (transformers hands callbacks the model, not the trainer)."""
    frame = inspect.currentframe()
    try:
        while frame is not None:
            owner = frame.f_locals.get("self")
            handler = getattr(owner, "callback_handler", None)
            if handler is not None and any(c is callback for c in handler.callbacks):
                return owner
            frame = frame.f_back
    finally:
        del frame
    raise OptionError("DiversityCallback found no Trainer calling it; pass it with callbacks=[...] or trainer.add_callback")

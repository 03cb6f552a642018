"""Hooks that put :mod:`diversity.monitor`'s per-step metrics into other libraries' training logs.

- :mod:`diversity.integrations.trl`: ``DiversityCallback`` for TRL's ``GRPOTrainer``.

Each module imports its library, so import the one you use; ``import diversity`` loads none of them.
"""

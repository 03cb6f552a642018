"""Basics that ``diversity`` and ``trainers`` share, below both: they import nothing from either.

``errors`` (what a user can act on), ``files`` (atomic outputs), ``provenance``
(package versions recorded beside outputs), ``run_directory`` (the file layout a
trainer run writes and every reader reads).
"""

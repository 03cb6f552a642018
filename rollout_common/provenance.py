"""Where an output came from: the versions of the packages that made it."""

from __future__ import annotations

from importlib import metadata


def package_version(package: str) -> str:
    """An installed distribution's version, or "not installed"."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"

"""The installed version of the ``hotplugd`` distribution this package ships in."""

from __future__ import annotations

from importlib import metadata


def _installed_version() -> str:
    try:
        return metadata.version("hotplugd")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


__version__ = _installed_version()

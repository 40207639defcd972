"""The ``phenocast`` command line: thin commands over the library's functions and configs.

``app`` is the Typer application (``phenocast --help``); ``main`` is the console entry point.
"""

from __future__ import annotations

from ._app import app, main

__all__ = ["app", "main"]

"""The ``durable-azure`` command line: the console script's entry point is :func:`main`."""

from .main import cli, main

__all__ = ["cli", "main"]

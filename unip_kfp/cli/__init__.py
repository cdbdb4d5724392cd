"""The `unip-kfp` command line (`main`); every command is a thin layer over the Python API."""

from .main import main

__all__ = ["main"]

"""Internal: the public interface is the `unip-kfp` command and `unip_kfp.__all__`.

The `unip-kfp` command line (`main`); every command is a thin layer over the Python API."""

from .main import main

__all__ = ["main"]

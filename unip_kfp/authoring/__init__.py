"""Internal: import from `unip_kfp` (its `__all__` is the public API).

Help while writing a module: `unip-kfp init` makes one that validates and runs as it is."""

"""Help while writing a module: `unip-kfp init` makes one that validates and runs as it is."""

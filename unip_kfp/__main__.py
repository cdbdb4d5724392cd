"""`python -m unip_kfp` is the `unip-kfp` command."""

from .cli import main

main()

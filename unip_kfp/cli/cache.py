"""`unip-kfp cache list|prune`: the local store of reusable stage results (`run --reuse`).

The store is `<module>/.unip-kfp/cache/` (see `local/cache_store.py`); these commands only
read or remove entries there, never a run folder or anything else of the module.
"""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING

import click

from ..errors import UsageError
from .common import handle_errors

if TYPE_CHECKING:
    from ..local.cache_store import CacheStore

_DURATION = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SIZE = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `12h`, `7d`, `2w` (a bare number: days) to seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if match is None:
        raise UsageError(f"--older-than {text}: give a number with s, m, h, d or w, e.g. 7d")
    return float(match[1]) * _DURATION[match[2] or "d"]


def parse_size(text: str) -> int:
    """`500M`, `10G`, `1.5GiB`, `2048` (bytes) to bytes (powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text.lower())
    if match is None:
        raise UsageError(f"--max-size {text}: give a size such as 500M or 10G")
    return int(float(match[1]) * _SIZE[match[2]])


def _store(workdir: str | None) -> tuple[CacheStore | None, str]:
    """The module's store, or None (and where it would be) when no run made one yet."""
    from ..local.cache_store import CacheStore

    folder = os.path.abspath(workdir or os.getcwd())
    root = os.path.join(folder, ".unip-kfp", "cache")
    if not os.path.isdir(root):
        return None, root
    return CacheStore(root), root


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _age(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f}{unit}"
    return f"{seconds:.0f}s"


@click.group()
def cache() -> None:
    """The stored stage results that `run --reuse` reuses (.unip-kfp/cache)."""


@cache.command("list")
@click.option("--workdir", type=click.Path(file_okay=False),
              help="Module folder (default: here).")
@handle_errors
def list_entries(workdir: str | None) -> None:
    """One line per stored result: key, stage, the run that made it, last use, size."""
    store, root = _store(workdir)
    entries = store.entries() if store is not None else []
    if not entries:
        click.echo(f"no stored results in {root}", err=True)
        return
    now = time.time()
    click.echo("key               stage  run  used  size")
    for entry in reversed(entries):
        click.echo(f"{entry.key[:16]}  {entry.stage}  {entry.run_id}  "
                   f"{_age(now - entry.used)} ago  {_human(entry.size)}")
    click.echo(f"{len(entries)} result(s), {_human(sum(e.size for e in entries))} in {root}",
               err=True)


@cache.command()
@click.option("--older-than", metavar="D", help="Remove results unused for D (7d, 12h, 30m).")
@click.option("--max-size", metavar="S",
              help="Then remove the least recently used until at most S remain (10G, 500M).")
@click.option("--workdir", type=click.Path(file_okay=False),
              help="Module folder (default: here).")
@handle_errors
def prune(older_than: str | None, max_size: str | None, workdir: str | None) -> None:
    """Remove stored results; without --older-than or --max-size, all of them."""
    age = parse_duration(older_than) if older_than is not None else None
    size = parse_size(max_size) if max_size is not None else None
    store, root = _store(workdir)
    removed = store.prune(older_than=age, max_size=size) if store is not None else []
    kept = store.entries() if store is not None else []
    click.echo(f"removed {len(removed)} result(s) ({_human(sum(e.size for e in removed))}); "
               f"{len(kept)} kept ({_human(sum(e.size for e in kept))}) in {root}", err=True)


COMMANDS = (cache,)

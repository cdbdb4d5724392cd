"""The constant POSIX-sh stage wrapper and the argv records that drive it.

A stage container runs ``sh -c BOOT CMD RECORD... SCRIPT``:

- ``BOOT`` (:data:`BOOT`) evaluates the last argument, ``SCRIPT`` (:data:`WRAPPER_SCRIPT`),
  in the same shell; ``$0`` is ``CMD``, the user's command, and the records are ``$1...``.
- The user's command comes first so that the Kubeflow UI's stage panel, which lists a
  container's command and then its args (KFP 2.17 ``frontend/src/components/tabs/
  StaticNodeDetailsV2.tsx``), shows it as the first readable line; the records follow, and
  the wrapper itself is last.

The script text never changes: variable names, artifact paths, values and the user command
all travel as separate argv elements, so quotes, ``$(...)``, backticks, ``;``, ``|`` or
newlines in them are plain data and can never be executed by the wrapper. The script needs
only ``sh`` (dash or bash) and ``mkdir``, ``rmdir``, ``rm``, ``ln``, ``cp`` (``mktemp`` when
present), so it runs in ``python:*-slim`` images. It is one line, written for size: it is
repeated in every executor of a package.

Records, processed left to right; ``ENV[=TARGET]`` is the variable's name, optionally
followed by ``=`` and an absolute TARGET path where the data must also appear:

``in ENV[=TARGET] PATH``
    Input artifact (file or folder). A missing PATH (an empty S3 prefix downloads
    nothing) becomes an empty folder. ENV is TARGET when given, else PATH.
``opt ENV[=TARGET] PATH URI SENTINEL``
    Optional input artifact: URI == SENTINEL means "not given", so ENV is unset;
    otherwise as ``in``.
``out ENV[=TARGET] PATH``
    Output folder: PATH is created and must be new or empty. A TARGET must be absent, a
    symlink or an empty folder and becomes a symlink to PATH, so writes land where the
    launcher uploads from.
``val ENV[=TARGET] VALUE``
    Non-file value, written byte-exact to TARGET (or to a file in a private temp folder);
    ENV names that file.

Then ``exec sh -c CMD``: pipes, ``&&`` and quotes work and the exit status is the stage's.

Placing an input at TARGET: an existing folder that cannot be removed (it is not empty, or
it is a mount point) receives a copy of PATH's contents when PATH is a folder, and refuses a
file; anything else at TARGET is replaced by a symlink to PATH. When ``UNIP_KFP_TARGET_ROOT``
is set and non-empty, every TARGET is placed under it (the local runner keeps writes inside
its run folder). All records are checked (kinds, field counts, names, targets) before
anything is touched; a protocol error or a refused placement exits with
:data:`PROTOCOL_ERROR_EXIT` and a last line ``unip-stage: ...`` on stderr (after the
message of the tool that failed, if one did). ENV must be a name the shell can export and
must not start with ``_``: the wrapper's own variables do (``_n``, ``_t``, ...), and they are
unset before the user command starts.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

__all__ = [
    "BOOT",
    "PROTOCOL_ERROR_EXIT",
    "TARGET_ROOT_ENV",
    "WRAPPER_SCRIPT",
    "argv",
    "container_command",
    "container_script",
    "in_record",
    "kubernetes_literal",
    "opt_record",
    "out_record",
    "record_targets",
    "records_of",
    "val_record",
]

T = TypeVar("T")

PROTOCOL_ERROR_EXIT = 97
"""Exit status of the wrapper itself (bad records, refused targets), distinct from common
user exit codes so a failing stage can be told apart from a broken invocation."""

TARGET_ROOT_ENV = "UNIP_KFP_TARGET_ROOT"
"""Environment variable that re-roots every TARGET (used by the local runner only)."""

BOOT = 'for _w do :;done;eval "$_w"'
"""The `-c` script: run the last argument (the wrapper) in this shell, records as `$@`."""

FIELDS = {"in": 3, "out": 3, "val": 3, "opt": 5}
"""Arguments per record, its kind included."""

# The script, one function per part. Why it looks like this:
# - No `set -e`: its rules inside functions and `||` lists differ between shells, so every
#   step that can fail says `|| _d` explicitly (`_d` prints the reason and exits 97).
# - `_r` runs twice over the records: first only checking them (`_g` empty), then acting.
#   A name is checked by exporting it in a subshell (the shell's own rule, readonly
#   variables included); `_`-names are the wrapper's. A target must be absolute and not `/`.
# - `_i` places an input, `_o` an output, `_a` writes a value, `_l` makes a target a link.
#   An output folder is proved new or empty by removing it (rmdir refuses non-empty ones).
# - `mktemp` is missing from some minimal images; the fallback uses `mkdir`, which fails
#   rather than following a pre-created path.
# - `$0` is the user's command, run by a new `sh` once the wrapper's variables are unset.
_SCRIPT_PARTS = (
    "_p=",
    '_d(){ printf "unip-stage: %s\\n" "$1" >&2;exit 97;}',
    '_l(){ mkdir -p -- "${_t%/*}/"&&ln -sfn -- "$1" "$_t"||_d "cannot link $_t";_e=$_t;}',
    '_i(){ [ -e "$1" ]||mkdir -p -- "$1"||_d "cannot create $1";_e=$1;[ -z "$_t" ]||'
    'if [ -d "$_t" ]&&[ ! -L "$_t" ]&&! rmdir -- "$_t" 2>/dev/null;then [ -d "$1" ]&&'
    'cp -R -- "$1"/. "$_t"/||_d "cannot copy into $_t";_e=$_t;else _l "$1";fi;}',
    '_o(){ mkdir -p -- "$1"&&rmdir -- "$1"&&mkdir -- "$1"||_d "output not empty: $1";'
    '_e=$1;[ -z "$_t" ]||{ [ -L "$_t" ]||[ ! -e "$_t" ]||rmdir -- "$_t"||'
    '_d "target not an empty folder: $_t";_l "$1";};}',
    '_a(){ _e=$_t;if [ "$_t" ];then mkdir -p -- "${_t%/*}/";else [ "$_p" ]||'
    '_p=$(mktemp -d 2>/dev/null)||{ _p=${TMPDIR:-/tmp}/unip-stage.$$;mkdir -m 700 -- "$_p"'
    '||_d "cannot create $_p";};_e=$_p/$_n;fi&&printf %s "$1" >"$_e"||'
    '_d "cannot write $_e";}',
    "_r(){ while [ $# -gt 1 ];do _k=$#;case $1 in opt)_k=5;;in|out|val)_k=3;esac;"
    '[ $# -gt $_k ]||_d "bad record: $1";_n=${2%%=*} _t=;[ "${_n#_}" = "$_n" ]&&'
    '(export "$_n=")||_d "bad name: $_n";case $2 in *=*)_t=${2#*=};'
    'case $_t in /*[!/]*);;*)_d "bad target: $_t";esac;_t=${UNIP_KFP_TARGET_ROOT:-}$_t;esac;'
    '[ "$_g" ]&&case $1 in opt)[ "$4" != "$5" ]&&_i "$3"||unset -v "$_n" _e;;in)_i "$3";;'
    'out)_o "$3";;*)_a "$3";esac&&[ "${_e+x}" ]&&export "$_n=$_e";'
    "shift $_k;done;}",
    '_g=;_r "$@";_g=1;_r "$@";unset -v _n _t _k _p _g _e _w;exec sh -c "$0"',
)
WRAPPER_SCRIPT = ";".join(_SCRIPT_PARTS)

_ENV_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def argv(cmd: str, records: Sequence[T]) -> list[str | T]:
    """The stage's whole command line as the shell gets it (after the kubelet)."""
    return ["sh", "-c", BOOT, cmd, *records, WRAPPER_SCRIPT]


def container_command(cmd: str) -> list[str]:
    """The container's `command`: `sh -c BOOT CMD`, as a container spec holds it.

    BOOT is escaped for the kubelet (see below); the user's command is not: `$(NAME)` and
    `$$` keep their Kubernetes meaning, as they have on the platform.
    """
    return [kubernetes_literal("sh"), kubernetes_literal("-c"), kubernetes_literal(BOOT), cmd]


def container_script() -> str:
    """The container's last arg: the wrapper script, escaped for the kubelet."""
    return kubernetes_literal(WRAPPER_SCRIPT)


def kubernetes_literal(text: str) -> str:
    """`text` as a container spec must hold it to reach the process byte-exact.

    The kubelet reduces `$$` to `$` and expands `$(NAME)` in a container's command, args
    and env values; with every `$` doubled, nothing is expanded and `$` comes out as is.
    """
    return text.replace("$", "$$")


def _head(env: str, target: str | None) -> str:
    """`ENV` or `ENV=TARGET`, refused at build time where the wrapper would refuse it."""
    if not _ENV_NAME.fullmatch(env):
        raise ValueError(f"not a usable environment variable name: {env!r}")
    if target is None or target == "":
        return env
    if not target.startswith("/") or not target.strip("/"):
        raise ValueError(f"target must be an absolute path below '/': {target!r}")
    return f"{env}={target.rstrip('/')}"


def in_record(env: str, path: T, target: str | None = None) -> list[str | T]:
    """Input artifact at PATH (usually a kfp path placeholder), exported as ENV."""
    return ["in", _head(env, target), path]


def opt_record(env: str, path: T, target: str | None, uri: T, sentinel: str) -> list[str | T]:
    """Optional input artifact: ENV stays unset when URI equals SENTINEL.

    KFP 2.17 cannot drop an absent artifact (``IfPresent`` on artifacts is broken), so the
    pipeline imports a sentinel URI instead and the wrapper recognises it at run time.
    """
    return ["opt", _head(env, target), path, uri, sentinel]


def out_record(env: str, path: T, target: str | None = None) -> list[str | T]:
    """Output folder at PATH (what the launcher uploads), optionally linked from TARGET."""
    return ["out", _head(env, target), path]


def val_record(env: str, value: T, target: str | None = None) -> list[str | T]:
    """Non-file value that the stage reads from the file named by ENV (platform contract)."""
    return ["val", _head(env, target), value]


def records_of(command_line: Sequence[Any]) -> list[Any] | None:
    """The records of a wrapper command line (see `argv`), or None for any other command."""
    items = list(command_line)
    if len(items) < 5 or items[:3] != ["sh", "-c", BOOT] or items[-1] != WRAPPER_SCRIPT:
        return None
    return items[4:-1]


def record_targets(records: Sequence[Any]) -> Iterator[str]:
    """The absolute TARGETs of a record list, normalised; stops at anything malformed."""
    index = 0
    while index < len(records):
        kind, head = records[index], records[index + 1] if index + 1 < len(records) else None
        size = FIELDS.get(kind) if isinstance(kind, str) else None
        if size is None or index + size > len(records) or not isinstance(head, str):
            return
        _, sep, target = head.partition("=")
        if sep and target.startswith("/") and target.strip("/"):
            yield posixpath.normpath(target)
        index += size

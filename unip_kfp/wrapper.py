"""The constant POSIX-sh stage wrapper and the argv records that drive it.

Every stage container runs ``sh -c WRAPPER_SCRIPT unip-stage RECORD...``. The script text
never changes: variable names, artifact paths, values and the user command all travel as
separate argv elements, so quotes, ``$(...)``, backticks, ``;``, ``|`` or newlines in them
are plain data and can never be executed by the wrapper. The script needs only ``sh``
(dash or bash) and coreutils, so it runs in ``python:*-slim`` images.

Records, processed left to right (TARGET is ``''`` for none, else an absolute path):

``in ENV PATH TARGET``
    Input artifact (file or folder). A missing PATH (an empty S3 prefix downloads
    nothing) becomes an empty folder. ENV is TARGET when given, else PATH.
``opt ENV PATH TARGET URI SENTINEL``
    Optional input artifact: URI == SENTINEL means "not given", so ENV is unset;
    otherwise as ``in``.
``out ENV PATH TARGET``
    Output folder: PATH is created and must be empty. A TARGET must be absent or an empty
    folder and becomes a symlink to PATH, so writes land where the launcher uploads from.
``val ENV VALUE TARGET``
    Non-file value, written byte-exact to TARGET (or to a file in a private temp folder);
    ENV names that file.
``-- CMD``
    Last record: ``exec sh -c CMD``, so pipes, ``&&`` and quotes work and the exit status
    is the stage's.

Placing an input at TARGET: an existing symlink or empty folder is replaced by a symlink
to PATH; an existing non-empty folder receives a copy of PATH's contents (when PATH is a
folder); anything else is replaced by a symlink. When ``UNIP_KFP_TARGET_ROOT`` is set and
non-empty, every TARGET is placed under it (the local runner keeps writes inside its run
folder). All records are checked before anything is touched; a protocol error or a refused
placement exits with :data:`PROTOCOL_ERROR_EXIT` and a ``unip-stage:`` message on stderr.
ENV names must match ``[A-Za-z_][A-Za-z0-9_]*`` and must not start with the reserved
``_unip_`` prefix of the wrapper's own variables.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeVar

__all__ = [
    "PROTOCOL_ERROR_EXIT",
    "TARGET_ROOT_ENV",
    "WRAPPER_SCRIPT",
    "cmd_record",
    "command",
    "container_command",
    "in_record",
    "kubernetes_literal",
    "opt_record",
    "out_record",
    "shell_command",
    "val_record",
]

T = TypeVar("T")

PROTOCOL_ERROR_EXIT = 97
"""Exit status of the wrapper itself (bad records, refused targets), distinct from common
user exit codes so a failing stage can be told apart from a broken invocation."""

TARGET_ROOT_ENV = "UNIP_KFP_TARGET_ROOT"
"""Environment variable that re-roots every TARGET (used by the local runner only)."""

ARGV0 = "unip-stage"
"""``$0`` of the wrapper shell: shows up in the shell's own error messages."""

# Notes on the script, since it cannot carry long comments without bloating every spec:
# - No `set -e`: its rules inside functions and `||` lists differ between shells, so every
#   step that can fail says `|| die` explicitly.
# - Functions get their own positional parameters, so record fields never need globals; the
#   few globals use the `_unip_` prefix, which `name` refuses for ENV, and are unset before
#   the user command starts so nothing of the wrapper leaks into its environment.
# - Character classes are spelled out: `[A-Z]` ranges depend on the locale in some shells.
# - `export` of an invalid name makes dash exit with status 2, hence the name check first.
# - `mktemp` is missing from some minimal images; the fallback uses `mkdir`, which fails
#   rather than following an attacker's pre-created path.
WRAPPER_SCRIPT = r"""set -u
_unip_t='' _unip_f='' _unip_tmp='' _unip_i=''
die() {
  printf 'unip-stage: %s\n' "$1" >&2
  exit 97
}
name() {
  case $1 in
    ''|[0123456789]*|*[!ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_]*)
      die "invalid environment variable name: '$1'" ;;
    _unip_*) die "reserved environment variable name: '$1'" ;;
  esac
}
target() {
  [ -z "$1" ] && return 0
  case $1 in
    /*) ;;
    *) die "target must be an absolute path: '$1'" ;;
  esac
  _unip_t=${1%"${1##*[!/]}"}
  [ -n "$_unip_t" ] || die "target must not be the root folder: '$1'"
}
check() {
  while [ $# -gt 0 ]; do
    case $1 in
      in|out)
        [ $# -ge 4 ] || die "$1: expected ENV PATH TARGET"
        name "$2"; target "$4"; shift 4 ;;
      val)
        [ $# -ge 4 ] || die "val: expected ENV VALUE TARGET"
        name "$2"; target "$4"; shift 4 ;;
      opt)
        [ $# -ge 6 ] || die "opt: expected ENV PATH TARGET URI SENTINEL"
        name "$2"; target "$4"; shift 6 ;;
      --)
        [ $# -eq 2 ] || die "'--' must be followed by exactly one command string, got $(($# - 1))"
        return 0 ;;
      *) die "unknown record: '$1'" ;;
    esac
  done
  die "missing the final '-- CMD' record"
}
rooted() {
  target "$1"
  _unip_t=${UNIP_KFP_TARGET_ROOT:-}$_unip_t
}
setvar() {
  export "$1=$2" || die "cannot export '$1'"
}
is_empty_dir() {
  [ -d "$1" ] || return 1
  for _unip_f in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    if [ -e "$_unip_f" ] || [ -L "$_unip_f" ]; then return 1; fi
  done
  return 0
}
link() {
  case $1 in
    /*) set -- "$1" "$2" ;;
    *) set -- "$PWD/$1" "$2" ;;
  esac
  mkdir -p -- "$(dirname -- "$2")" || die "cannot create the parent folder of '$2'"
  ln -s -- "$1" "$2" || die "cannot link '$2' to '$1'"
}
input() {
  if [ ! -e "$2" ]; then
    mkdir -p -- "$2" || die "cannot create the empty input folder '$2'"
  fi
  if [ -z "$3" ]; then
    setvar "$1" "$2"
    return 0
  fi
  rooted "$3"
  if [ -L "$_unip_t" ]; then
    rm -f -- "$_unip_t" || die "cannot replace the symlink '$_unip_t'"
  elif [ -d "$_unip_t" ]; then
    if is_empty_dir "$_unip_t"; then
      rmdir -- "$_unip_t" || die "cannot replace the empty folder '$_unip_t'"
    elif [ -d "$2" ]; then
      cp -R -- "$2"/. "$_unip_t"/ || die "cannot copy '$2' into '$_unip_t'"
      setvar "$1" "$_unip_t"
      return 0
    else
      die "cannot place the file '$2' at the non-empty folder '$_unip_t'"
    fi
  elif [ -e "$_unip_t" ]; then
    rm -f -- "$_unip_t" || die "cannot replace '$_unip_t'"
  fi
  link "$2" "$_unip_t"
  setvar "$1" "$_unip_t"
}
output() {
  mkdir -p -- "$2" || die "cannot create the output folder '$2'"
  is_empty_dir "$2" || die "output folder is not empty: '$2'"
  if [ -z "$3" ]; then
    setvar "$1" "$2"
    return 0
  fi
  rooted "$3"
  if [ -L "$_unip_t" ]; then
    rm -f -- "$_unip_t" || die "cannot replace the symlink '$_unip_t'"
  elif [ -d "$_unip_t" ]; then
    is_empty_dir "$_unip_t" || die "output target is not an empty folder: '$_unip_t'"
    rmdir -- "$_unip_t" || die "cannot replace the empty folder '$_unip_t'"
  elif [ -e "$_unip_t" ]; then
    die "output target exists and is not a folder: '$_unip_t'"
  fi
  link "$2" "$_unip_t"
  setvar "$1" "$_unip_t"
}
private_dir() {
  [ -n "$_unip_tmp" ] && return 0
  if _unip_tmp=$(mktemp -d 2>/dev/null) && [ -d "$_unip_tmp" ]; then return 0; fi
  _unip_i=0
  while :; do
    _unip_tmp=${TMPDIR:-/tmp}/unip-stage.$$.$_unip_i
    mkdir -m 700 -- "$_unip_tmp" 2>/dev/null && return 0
    _unip_i=$((_unip_i + 1))
    [ "$_unip_i" -lt 100 ] || die "cannot create a private folder in '${TMPDIR:-/tmp}'"
  done
}
value() {
  if [ -n "$3" ]; then
    rooted "$3"
    _unip_f=$_unip_t
    mkdir -p -- "$(dirname -- "$_unip_f")" || die "cannot create the parent folder of '$_unip_f'"
  else
    private_dir
    _unip_f=$_unip_tmp/$1
  fi
  printf '%s' "$2" > "$_unip_f" || die "cannot write the value file '$_unip_f'"
  setvar "$1" "$_unip_f"
}
check "$@"
while :; do
  case $1 in
    in) input "$2" "$3" "$4"; shift 4 ;;
    opt)
      if [ "$5" = "$6" ]; then unset -v "$2"; else input "$2" "$3" "$4"; fi
      shift 6 ;;
    out) output "$2" "$3" "$4"; shift 4 ;;
    val) value "$2" "$3" "$4"; shift 4 ;;
    --)
      unset -v _unip_t _unip_f _unip_tmp _unip_i
      exec sh -c "$2" ;;
  esac
done
"""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_PREFIX = "_unip_"


def command() -> list[str]:
    """The container command of every stage; all data goes into the args records."""
    return ["sh", "-c", WRAPPER_SCRIPT, ARGV0]


def container_command() -> list[str]:
    """`command()` as a container spec holds it: escaped for the kubelet (see below)."""
    return [kubernetes_literal(item) for item in command()]


def kubernetes_literal(text: str) -> str:
    """`text` as a container spec must hold it to reach the process byte-exact.

    The kubelet reduces `$$` to `$` and expands `$(NAME)` in a container's command, args
    and env values; with every `$` doubled, nothing is expanded and `$` comes out as is.
    """
    return text.replace("$", "$$")


def _check_env(env: str) -> str:
    """Fail at build time on a name the wrapper would refuse at run time."""
    if not _ENV_NAME.fullmatch(env) or env.startswith(_RESERVED_PREFIX):
        raise ValueError(f"not a usable environment variable name: {env!r}")
    return env


def _check_target(target: str | None) -> str:
    """TARGET as the wrapper expects it: '' for none, else an absolute path below '/'."""
    if target is None or target == "":
        return ""
    if not target.startswith("/") or not target.strip("/"):
        raise ValueError(f"target must be an absolute path below '/': {target!r}")
    return target


def in_record(env: str, path: T, target: str | None = None) -> list[str | T]:
    """Input artifact at PATH (usually a kfp path placeholder), exported as ENV."""
    return ["in", _check_env(env), path, _check_target(target)]


def opt_record(env: str, path: T, target: str | None, uri: T, sentinel: str) -> list[str | T]:
    """Optional input artifact: ENV stays unset when URI equals SENTINEL.

    KFP 2.17 cannot drop an absent artifact (``IfPresent`` on artifacts is broken), so the
    pipeline imports a sentinel URI instead and the wrapper recognises it at run time.
    """
    return ["opt", _check_env(env), path, _check_target(target), uri, sentinel]


def out_record(env: str, path: T, target: str | None = None) -> list[str | T]:
    """Output folder at PATH (what the launcher uploads), optionally linked from TARGET."""
    return ["out", _check_env(env), path, _check_target(target)]


def val_record(env: str, value: T, target: str | None = None) -> list[str | T]:
    """Non-file value that the stage reads from the file named by ENV (platform contract)."""
    return ["val", _check_env(env), value, _check_target(target)]


def cmd_record(cmd: str) -> list[str]:
    """The final record: the user command, run by ``sh -c`` with the records' environment."""
    if not isinstance(cmd, str):
        raise TypeError(f"the command must be one string, got {type(cmd).__name__}")
    return ["--", cmd]


def shell_command(cmd: Sequence[str]) -> str:
    """The platform rule: ``entryPoint.cmd`` items joined by single spaces into one command.

    Items are not quoted: the platform hands the joined string to a shell, so manifests
    already rely on shell syntax (pipes, ``&&``, quoted arguments) spanning items.
    """
    if isinstance(cmd, str):
        raise TypeError("cmd must be a sequence of strings, not a single string")
    return " ".join(cmd)

#!/usr/bin/env bash
# Install the system programs some tests drive for real, when they are missing: headless
# Chromium (pictures and HTML are checked as a person sees them) and Graphviz's `dot`
# (`unip-kfp graph --format svg`). Debian packages; needs root and apt-get. Elsewhere it
# says what to install and fails, so a missing tool is never a silently skipped test.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
  || missing+=(chromium)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "the tests need: ${missing[*]} (Debian/Ubuntu: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "make: installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

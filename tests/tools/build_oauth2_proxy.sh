#!/usr/bin/env bash
# Build oauth2-proxy (the version the login tests run) into a cache outside the checkout,
# unless it is already there. Prints the binary's path. Run by .ci/run before the tests;
# tests/support/oauth2_proxy.py looks for the binary in the same place and names this script when
# it is missing.
#
#   ${UNIP_KFP_TEST_CACHE:-${XDG_CACHE_HOME:-~/.cache}/unip-kfp-tests}/oauth2-proxy-<version>/
#
# Needs Go (https://go.dev/dl/); takes about a minute with an empty Go module cache.
set -euo pipefail
VERSION=v7.15.6
CACHE="${UNIP_KFP_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/unip-kfp-tests}"
DIR="$CACHE/oauth2-proxy-$VERSION"
BINARY="$DIR/oauth2-proxy"
if [ -x "$BINARY" ]; then
  echo "$BINARY"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "build_oauth2_proxy.sh: needs Go to build oauth2-proxy $VERSION (https://go.dev/dl/)" >&2
  exit 1
fi
mkdir -p "$CACHE"
# Build into a private folder, then move: a concurrent run never sees half a binary.
WORK="$(mktemp -d "$CACHE/.oauth2-proxy-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
echo "building oauth2-proxy $VERSION for the login tests (once, about a minute)" >&2
if ! GOBIN="$WORK" GOFLAGS=-buildvcs=false \
    go install "github.com/oauth2-proxy/oauth2-proxy/v7@$VERSION" >"$WORK/build.log" 2>&1; then
  cat "$WORK/build.log" >&2
  exit 1
fi
mkdir -p "$DIR"
mv -f "$WORK/oauth2-proxy" "$BINARY"
echo "$BINARY"

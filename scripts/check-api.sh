#!/usr/bin/env bash
# The API's compatibility, checked (docs/api-compatibility.md): `buf lint` with buf.yaml, and
# `buf breaking` against proto/released/relance-v1.binpb, the descriptor image of the last
# released API. buf comes from the Python registry (buf-bin) or the npm registry when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

find_buf() {
  if command -v buf >/dev/null 2>&1; then
    command -v buf
    return
  fi
  # pip's scripts directory (not always on PATH, e.g. under pyenv before a rehash).
  local scripts
  scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
  if [ -n "$scripts" ] && [ -x "$scripts/buf" ]; then
    echo "$scripts/buf"
    return
  fi
  local user_base
  user_base="$(python3 -m site --user-base 2>/dev/null || true)"
  if [ -n "$user_base" ] && [ -x "$user_base/bin/buf" ]; then
    echo "$user_base/bin/buf"
    return
  fi
  local npm_bin
  npm_bin="$(npm prefix --global 2>/dev/null || true)/bin"
  if [ -x "$npm_bin/buf" ]; then
    echo "$npm_bin/buf"
    return
  fi
  return 1
}

if ! BUF="$(find_buf)"; then
  echo "check-api: installing buf (pip: buf-bin, else npm: @bufbuild/buf)" >&2
  python3 -m pip install --quiet buf-bin >&2 \
    || npm install --global --silent @bufbuild/buf >&2 \
    || { echo "check-api: cannot install buf from pip or npm" >&2; exit 1; }
  BUF="$(find_buf)" || { echo "check-api: buf installed but not found" >&2; exit 1; }
fi

"$BUF" --version >&2
"$BUF" lint
# A change the FILE rules refuse (a field renumbered, renamed or removed, a type changed, an
# RPC removed…) fails here; it belongs in a new version package (relance.v2), which the
# released image does not hold.
"$BUF" breaking --against proto/released/relance-v1.binpb
echo "check-api: buf lint and buf breaking (against proto/released/relance-v1.binpb) pass"

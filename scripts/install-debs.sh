#!/usr/bin/env bash
# Installs the Debian packages whose commands are missing.
#   install-debs.sh CMD:PKG ...          install PKG when CMD is not on PATH
#   install-debs.sh --python-venv PYTHON install python3-venv when PYTHON cannot make a venv
set -euo pipefail

missing=()
if [ "${1:-}" = "--python-venv" ]; then
  python=${2:?python interpreter}
  if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    missing+=("python3-venv")
  fi
else
  for pair in "$@"; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
  done
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "error[SYSTEM_DEPS_MISSING] need Debian packages: ${missing[*]}" >&2
  echo "  next step: run as root, or: apt-get install -y ${missing[*]}" >&2
  exit 2
fi
# Installing a server package must not start its daemon on a shared port.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${sudo[@]}" chmod +x /usr/sbin/policy-rc.d
fi
echo "installing Debian packages: ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null

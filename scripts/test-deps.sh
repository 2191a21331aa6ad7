#!/usr/bin/env bash
# What `npm test` needs from the machine, installed when missing: redis-server and redis-cli
# (every test starts the Redis processes it needs: a private server for the suite, Sentinel
# set-ups and clusters on free ports) and Chromium (the browser tests drive /usr/bin/chromium).
# Debian and Ubuntu: apt-get, as root or through sudo.
set -euo pipefail

missing=()
{ command -v redis-server && command -v redis-cli; } >/dev/null || missing+=(redis-server)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "npm test needs ${missing[*]}: install them (redis-server >= 7 with redis-cli; Chromium at /usr/bin/chromium)" >&2
  exit 1
fi
SUDO=
[[ $(id -u) -eq 0 ]] || SUDO=sudo
echo "npm test: installing ${missing[*]} with apt-get" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null

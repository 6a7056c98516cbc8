#!/bin/sh
# Runs a project script under Node 24 LTS. A fresh clone has nothing installed, so this
# fetches what is missing first: Node 24 (the npm package node@24, into .tools/), the npm
# dependencies (npm ci) and the compiled output (dist/, rebuilt when sources changed).
set -e
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/scripts/node24-env.sh"
cd "$ROOT"
script=$1; shift
exec node --enable-source-maps "$ROOT/$script" "$@"

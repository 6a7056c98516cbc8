# Sourced (POSIX sh): puts Node 24 first on PATH and makes sure deps and dist/ are current.
# Expects ROOT to be set to the repository root.
if command -v node >/dev/null 2>&1 && node -v 2>/dev/null | grep -q '^v24\.'; then
  :
else
  N24="$ROOT/.tools/node24/node_modules/node/bin"
  if [ ! -x "$N24/node" ]; then
    echo "agentplane: Node 24 not found; installing the npm package node@24 into .tools/node24 ..." >&2
    mkdir -p "$ROOT/.tools/node24"
    npm install --prefix "$ROOT/.tools/node24" --no-save --no-audit --no-fund --loglevel=error node@24 >&2
  fi
  PATH="$N24:$PATH"; export PATH
fi
ap_deps_stale() {
  [ ! -f "$ROOT/node_modules/.package-lock.json" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]
}
if ap_deps_stale; then
  # Under a lock: two commands running `npm ci` at once leave node_modules half-installed.
  mkdir -p "$ROOT/.tools"
  exec 8>"$ROOT/.tools/deps.lock"
  flock 8
  if ap_deps_stale; then
    echo "agentplane: installing npm dependencies (npm ci) ..." >&2
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  flock -u 8
  exec 8>&-
fi
# Several commands may start at once (tests, CLI): compile into a fresh folder under a lock
# and swap it in, so no reader ever sees a half-written dist/.
ap_dist_stale() {
  [ ! -f "$ROOT/dist/.stamp" ] || [ -n "$(cd "$ROOT" && find apps libs test bench scripts/src .swcrc package.json -newer dist/.stamp -type f 2>/dev/null | head -n 1)" ]
}
if ap_dist_stale; then
  mkdir -p "$ROOT/.tools"
  exec 9>"$ROOT/.tools/build.lock"
  flock 9
  if ap_dist_stale; then
    echo "agentplane: compiling TypeScript (swc) ..." >&2
    # The stamp is taken before compiling so an edit made meanwhile still counts as newer.
    (cd "$ROOT" && rm -rf .tools/dist.new && mkdir -p .tools/dist.new && touch .tools/dist.new/.stamp \
      && npx --no-install swc apps libs test bench scripts/src -d .tools/dist.new --copy-files -q >&2 \
      && rm -rf .tools/dist.old && { [ ! -d dist ] || mv dist .tools/dist.old; } && mv .tools/dist.new dist && rm -rf .tools/dist.old)
  fi
  flock -u 9
  exec 9>&-
fi

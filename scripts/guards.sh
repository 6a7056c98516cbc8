#!/bin/sh
# Build guards, run first by `npm test` (and `npm run lint:guards`):
#  - TypeORM `synchronize: true` is forbidden: schemas change only through migrations.
#  - The generated schemas/ must match the code (gen-schemas --check), when that generator exists.
#  - The whole tree type-checks (SWC compiles without checking types, so tsc is the check).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
fail=0
hits=$(grep -rnE "synchronize['\"]?[[:space:]]*:[[:space:]]*true" apps libs --include='*.ts' --include='*.js' --include='*.json' 2>/dev/null || true)
if [ -n "$hits" ]; then
  echo "guards: 'synchronize: true' is forbidden in apps/ and libs/ (use migrations):" >&2
  echo "$hits" >&2
  fail=1
fi
if [ -f "$ROOT/scripts/src/gen-schemas.ts" ] || [ -f "$ROOT/dist/scripts/src/gen-schemas.js" ]; then
  # The generator is TypeScript compiled to dist/: make sure Node 24 and a current build are there.
  . "$ROOT/scripts/node24-env.sh"
  if [ -f "$ROOT/dist/scripts/src/gen-schemas.js" ]; then
    if ! node "$ROOT/dist/scripts/src/gen-schemas.js" --check >&2; then
      echo "guards: schemas/ are stale: run 'npm run schemas' and commit the result" >&2
      fail=1
    fi
  fi
fi
if [ -x "$ROOT/node_modules/.bin/tsc" ]; then
  if ! "$ROOT/node_modules/.bin/tsc" -p "$ROOT/tsconfig.json" --noEmit >&2; then
    echo "guards: type errors (tsc --noEmit)" >&2
    fail=1
  fi
fi
[ $fail -eq 0 ] && echo "guards: ok" >&2
exit $fail

#!/usr/bin/env bash
# The test command (README, CI): type-check, build, then the suite on two adapters —
# Node + Dawn on lavapipe (shader-f16, subgroup size 8; also runs the CPU-only, Deno and
# Chromium suites) and Node + Dawn on SwiftShader (no f16, subgroup size 4; GPU suites again).
set -euo pipefail
cd "$(dirname "$0")/.."

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
LVP=/usr/share/vulkan/icd.d/lvp_icd.json
SWS=/usr/lib/chromium/vk_swiftshader_icd.json
for f in "$LVP" "$SWS"; do
  [ -f "$f" ] || { echo "test: $f is missing; run 'sudo bash scripts/setup-machine.sh' first" >&2; exit 1; }
done

echo "== typecheck" >&2
npx tsc -p tsconfig.test.json --noEmit
echo "== build" >&2
node scripts/build.mjs

results=$(mktemp -d)
status=0
run() { # name, icd, adapter, vitest args...
  local name=$1 icd=$2 adapter=$3; shift 3
  echo "== vitest on $name" >&2
  VK_ICD_FILENAMES="$icd" ECHOCLIP_ADAPTER="$adapter" npx vitest run --reporter=default --reporter=json --outputFile.json="$results/$name.json" "$@" || status=1
}
run lavapipe "$LVP" lavapipe
run swiftshader "$SWS" swiftshader test/gpu test/kernels test/models test/autograd

# One closing line over both runs, in the plain "N passed, N failed" form CI reads.
node -e '
  const fs = require("fs"); let p = 0, f = 0, s = 0;
  for (const file of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(process.argv[1] + "/" + file, "utf8"));
    p += r.numPassedTests; f += r.numFailedTests; s += r.numPendingTests + (r.numTodoTests || 0);
  }
  console.log(`tests: ${p} passed, ${f} failed` + (s ? `, ${s} skipped` : ""));
' "$results"
exit $status

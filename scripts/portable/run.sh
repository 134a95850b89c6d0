#!/usr/bin/env bash
# run.sh [SECONDS] [OUTDIR]: echoclip on this machine's GPU, from this folder alone (no Node, no
# npm, no network). Unpacks into a temp dir, then probe -> selfcheck -> bench, each under its own
# share of SECONDS (default 480), results in OUTDIR (default ./echoclip-gpu-results).
# Environment knobs are listed in README.txt.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

USAGE='usage: run.sh [SECONDS>=30] [OUTDIR]'
[ "$#" -le 2 ] || die 2 "run.sh" "takes at most 2 arguments, got $#" "$USAGE"
case ${1:-} in --help | -h) echo "$USAGE" && exit 0 ;; esac
TOTAL=${1:-480}
OUTDIR=${2:-./echoclip-gpu-results}
case $TOTAL in '' | *[!0-9]*) die 2 "SECONDS '$TOTAL'" "is not a whole number of seconds" "$USAGE" ;; esac
TOTAL=$((10#$TOTAL))
[ "$TOTAL" -ge 30 ] || die 2 "SECONDS $TOTAL" "is too short: the probe alone needs a few seconds and $PORTABLE_RESERVE_S s are kept for the summary" "$USAGE"
[ -n "$OUTDIR" ] || die 2 "OUTDIR" "is empty" "$USAGE"
mkdir -p "$OUTDIR" 2>/dev/null || die 2 "OUTDIR $OUTDIR" "cannot be created" "pass a writable folder"
OUTDIR=$(cd "$OUTDIR" && pwd)
[ -w "$OUTDIR" ] || die 2 "OUTDIR $OUTDIR" "is not writable" "pass a writable folder"
RESULT_FILES='run.log probe.json selfcheck.json bench-gpu.json bench-gpu.md bench-gpu.svg'
for f in $RESULT_FILES; do rm -f "$OUTDIR/$f"; done

SECONDS=0
exec 3>&1 4>&2
# The log's tee ignores INT/TERM/HUP so that a Ctrl-C still gets the last lines written, and
# (GNU tee -p) keeps writing run.log when the terminal side goes away (`run.sh | head`).
tee_opts=-a
tee -p </dev/null >/dev/null 2>&1 && tee_opts=-pa
exec > >(trap '' INT TERM HUP; exec tee "$tee_opts" "$OUTDIR/run.log") 2>&1
TEE_PID=$!

TMP=$(mktemp -d "${TMPDIR:-/tmp}/echoclip-portable.XXXXXX") || die 1 "mktemp -d" "failed" "set TMPDIR to a writable folder"
finish() {
  local rc=$?
  if [ "${ECHOCLIP_KEEP_TMP:-}" = 1 ]; then log "kept $TMP (ECHOCLIP_KEEP_TMP=1)"; else rm -rf "$TMP"; fi
  # Let tee write the last lines before the caller reads run.log.
  exec 1>&3 2>&4
  wait "$TEE_PID" 2>/dev/null
  exit "$rc"
}
trap finish EXIT
STEP_PID=
on_signal() {
  log "interrupted${STEP_PID:+: stopping the running step}"
  [ -n "$STEP_PID" ] && kill -TERM "$STEP_PID" 2>/dev/null && wait "$STEP_PID" 2>/dev/null
  exit 130
}
trap on_signal INT TERM HUP
trap '' PIPE

log "echoclip portable run: ${TOTAL}s budget, results in $OUTDIR, unpacking into $TMP"
[ -f "$HERE/manifest.json" ] && log "bundle: $(sed -n 's/^  "built": "\(.*\)",$/built \1/p' "$HERE/manifest.json" | head -n1)"
have_glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | cut -d' ' -f2)
need_glibc=$(sed -n 's/^ *"glibc": "\([0-9.]*\)".*/\1/p' "$HERE/manifest.json" 2>/dev/null | head -n1)
need_cxx=$(sed -n 's/^ *"glibcxx": "\([0-9.]*\)".*/\1/p' "$HERE/manifest.json" 2>/dev/null | head -n1)
log "machine: $(uname -srm 2>/dev/null); glibc ${have_glibc:-unknown}${need_glibc:+ (the bundle needs >= $need_glibc, libstdc++ with GLIBCXX_$need_cxx)}"
if [ -n "$have_glibc" ] && [ -n "$need_glibc" ] && [ "$(printf '%s\n%s\n' "$need_glibc" "$have_glibc" | sort -V | head -n1)" != "$need_glibc" ]; then
  log "WARNING: this machine's glibc $have_glibc is older than the $need_glibc node/dawn.node were built against: expect them not to load"
fi

# ---- node
if [ -n "${ECHOCLIP_PORTABLE_NODE:-}" ]; then
  NODE=$ECHOCLIP_PORTABLE_NODE
  log "node: $NODE (ECHOCLIP_PORTABLE_NODE)"
else
  [ -f "$HERE/node.xz" ] || die 1 "$HERE/node.xz" "missing" "rebuild the bundle: npm run bundle:portable"
  mkdir -p "$TMP/bin"
  unxz_to "$HERE/node.xz" "$TMP/bin/node"
  chmod 0755 "$TMP/bin/node"
  NODE=$TMP/bin/node
fi
NODE_VERSION=$("$NODE" --version 2>&1) || die 1 "$NODE" "does not run: $NODE_VERSION" "this bundle needs Linux x86-64 with glibc >= ${need_glibc:-2.28}; if the temp folder is mounted noexec, set TMPDIR to one that is not"
log "node $NODE_VERSION"

# ---- the library + CLI, dawn.node decompressed next to the webgpu package's index.js
if [ -n "${ECHOCLIP_PORTABLE_ECHOCLIP:-}" ]; then
  ECHOCLIP=("$ECHOCLIP_PORTABLE_ECHOCLIP")
  log "echoclip: $ECHOCLIP_PORTABLE_ECHOCLIP (ECHOCLIP_PORTABLE_ECHOCLIP)"
else
  [ -d "$HERE/app" ] || die 1 "$HERE/app" "missing" "rebuild the bundle: npm run bundle:portable"
  cp -R "$HERE/app" "$TMP/app"
  dawn=$TMP/app/node_modules/webgpu/dist/linux-x64/dawn.node
  unxz_to "$dawn.xz" "$dawn" && rm -f "$dawn.xz"
  ECHOCLIP=("$NODE" "$TMP/app/bin/echoclip.js")
fi

# ---- Vulkan loader: the machine's, or Debian's from this bundle where it has none
mode=${ECHOCLIP_VULKAN_LOADER:-auto}
case $mode in auto | system | bundled) ;; *) die 2 "ECHOCLIP_VULKAN_LOADER=$mode" "is not auto, system or bundled" ;; esac
sys_loader=$(system_vulkan_loader) || sys_loader=
if [ "$mode" = bundled ] || { [ "$mode" = auto ] && [ -z "$sys_loader" ]; }; then
  deb=$(ls "$HERE"/libvulkan1_*.deb 2>/dev/null | head -n1)
  [ -n "$deb" ] || die 1 "$HERE/libvulkan1_*.deb" "missing, and the machine has no libvulkan.so.1" "install the Vulkan loader (libvulkan1 / vulkan-loader), or rebuild the bundle"
  unpack_deb "$deb" "$TMP/vulkan"
  libdir=$TMP/vulkan/usr/lib/x86_64-linux-gnu
  [ -e "$libdir/libvulkan.so.1" ] || die 1 "$deb" "has no usr/lib/x86_64-linux-gnu/libvulkan.so.1" "rebuild the bundle from Debian's amd64 libvulkan1"
  export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  log "Vulkan loader: bundled $(basename "$deb") -> $libdir/libvulkan.so.1 (${sys_loader:+machine has $sys_loader, }mode $mode)"
elif [ -n "$sys_loader" ]; then
  log "Vulkan loader: the machine's $sys_loader"
else
  log "Vulkan loader: none found on the machine (ECHOCLIP_VULKAN_LOADER=system); Dawn will fail to find Vulkan"
fi

# ---- Vulkan driver (ICD)
ICD=$(bash "$HERE/find-icd.sh") || die 2 "ECHOCLIP_ICD" "points at a file that does not exist" "unset it to search the usual icd.d folders"
if [ -z "$ICD" ]; then
  # Compute-only containers sometimes mount the NVIDIA driver without its ICD JSON: write one.
  for nv in /usr/local/nvidia/lib64/libGLX_nvidia.so.0 /usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0 /usr/lib64/libGLX_nvidia.so.0; do
    if [ -e "$nv" ]; then
      ICD=$TMP/nvidia_icd.json
      printf '{ "file_format_version": "1.0.1", "ICD": { "library_path": "%s", "api_version": "1.3.0" } }\n' "$nv" >"$ICD"
      log "Vulkan driver: no ICD JSON found, but $nv exists: wrote $ICD for it"
      break
    fi
  done
fi
if [ -n "$ICD" ]; then
  export VK_DRIVER_FILES=$ICD VK_ICD_FILENAMES=$ICD
  log "Vulkan driver: $ICD"
  # A driver outside /usr (e.g. /usr/local/nvidia) keeps its libraries in its own lib64/lib.
  prefix=${ICD%/share/vulkan/icd.d/*}
  if [ "$prefix" != "$ICD" ] && [ -n "$prefix" ] && [ "$prefix" != /usr ] && [ "$prefix" != /usr/local ]; then
    for d in "$prefix/lib64" "$prefix/lib"; do
      [ -d "$d" ] && case ":${LD_LIBRARY_PATH:-}:" in *":$d:"*) ;; *) export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d" && log "driver libraries: appended $d to LD_LIBRARY_PATH" ;; esac
    done
  fi
else
  log "Vulkan driver: no ICD found; Dawn tries the loader's default"
  # NVIDIA's container runtime mounts the Vulkan parts only with the graphics capability.
  [ -e /proc/driver/nvidia/version ] && log "hint: an NVIDIA driver is loaded but no Vulkan ICD is visible; in a container, start it with NVIDIA_DRIVER_CAPABILITIES=all (or compute,utility,graphics), or set ECHOCLIP_ICD"
fi
if [ -n "${ECHOCLIP_ADAPTER:-}" ]; then
  log "ignoring ECHOCLIP_ADAPTER=$ECHOCLIP_ADAPTER (it would override the driver chosen above; use ECHOCLIP_ICD)"
  unset ECHOCLIP_ADAPTER
fi

# ---- selfcheck fixture pack
FIXTURES=
if [ -f "$HERE/fixtures.tar.xz" ]; then
  untar_xz "$HERE/fixtures.tar.xz" "$TMP/fixtures"
  FIXTURES=$TMP/fixtures
  log "fixtures: $(find "$FIXTURES" -type f | wc -l | tr -d ' ') files in $FIXTURES"
else
  log "fixtures: no fixtures.tar.xz in the bundle; selfcheck runs without --fixtures"
fi

# ---- the steps
declare -A STEP_RC=()
# run_step NAME STDOUT_FILE|- ARGS...: one echoclip command under its budget and hard limit.
run_step() {
  local name=$1 out=$2 left plan budget hard rc start err
  shift 2
  left=$((TOTAL - SECONDS))
  plan=$(plan_budget "$name" "$left")
  budget=${plan% *} hard=${plan#* }
  if [ "$budget" -le 0 ]; then
    log "== $name: skipped, no time left (${left}s left, ${PORTABLE_RESERVE_S}s reserved)"
    STEP_RC[$name]=skipped
    return
  fi
  local args=("$@")
  [ "$name" = probe ] || args+=(--budget "$budget")
  log "== $name: budget ${budget}s, hard limit ${hard}s: echoclip ${args[*]}"
  err=$TMP/$name.stderr
  start=$SECONDS
  local redirect=$OUTDIR/$out
  [ "$out" = - ] && redirect=/dev/stdout
  local limit=()
  if have timeout; then limit=(timeout -k "$PORTABLE_KILL_AFTER_S" "$hard"); else log "no 'timeout' on this machine: $name runs without a hard limit"; fi
  # In the background + wait, so a Ctrl-C reaches on_signal at once (timeout puts the step in its
  # own process group, out of the terminal's reach). stderr goes live to the log through a fifo
  # and is kept for the checks below.
  local fifo=$TMP/$name.fifo
  mkfifo "$fifo"
  "${limit[@]}" "${ECHOCLIP[@]}" "${args[@]}" >"$redirect" 2>"$fifo" &
  STEP_PID=$!
  tee "$err" <"$fifo" >&2 &
  local tee_pid=$!
  wait "$STEP_PID"
  rc=$?
  STEP_PID=
  wait "$tee_pid"
  STEP_RC[$name]=$rc
  [ "$out" != - ] && [ ! -s "$OUTDIR/$out" ] && rm -f "$OUTDIR/$out"
  if [ "$rc" = 0 ]; then
    log "== $name: ok in $((SECONDS - start))s"
  elif [ "$name" = selfcheck ] && [ "$rc" = 3 ]; then
    # selfcheck's "every check run passed, the budget cut some": a pass for this run.
    STEP_RC[$name]=0
    log "== $name: ok in $((SECONDS - start))s; the budget cut some checks (exit 3; listed under 'skipped')"
  elif [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    log "== $name: TIMED OUT: killed at its ${hard}s hard limit (exit $rc); going on"
  elif grep -q "unknown command" "$err" 2>/dev/null; then
    log "== $name: this echoclip has no '$1' command (unknown command, exit $rc); going on"
  else
    log "== $name: FAILED with exit $rc after $((SECONDS - start))s; going on"
  fi
}

STEPS=${ECHOCLIP_RUN_STEPS:-probe,selfcheck,bench}
want() { case ",$STEPS," in *",$1,"*) return 0 ;; esac; log "== $1: skipped (ECHOCLIP_RUN_STEPS=$STEPS)"; STEP_RC[$1]=skipped; return 1; }
if want probe; then run_step probe probe.json probe --json; fi
# Experimental kernels (subgroup matrices) on for selfcheck, so a GPU that has them checks them; ECHOCLIP_EXPERIMENTAL_KERNELS=0 turns that off.
if want selfcheck; then ECHOCLIP_EXPERIMENTAL_KERNELS=${ECHOCLIP_EXPERIMENTAL_KERNELS:-1} run_step selfcheck selfcheck.json selfcheck --json ${FIXTURES:+--fixtures "$FIXTURES"}; fi
# The CLI zero-shot case (cold/warm prompt cache, EF and all 16 tasks) needs a clip and the prompts.
E2E=()
if [ -f "$HERE/samples/example_video.avi" ] && [ -f "$HERE/samples/prompts_used.json" ]; then
  E2E=(--video "$HERE/samples/example_video.avi" --prompts "$HERE/samples/prompts_used.json" --vocab "$TMP/app/assets/bpe_simple_vocab_16e6.txt.gz")
fi
if want bench; then run_step bench - bench --suite gpu --out "$OUTDIR/bench-gpu.json" ${E2E[@]+"${E2E[@]}"}; fi

# ---- OUTDIR limits: at most 8 files, none over 16 MiB
count=$(find "$OUTDIR" -maxdepth 1 -type f | wc -l | tr -d ' ')
[ "$count" -le 8 ] || log "WARNING: $OUTDIR holds $count files (limit 8): other files were there before; nothing deleted"
for f in "$OUTDIR"/*; do
  [ -f "$f" ] || continue
  size=$(wc -c <"$f" | tr -d ' ')
  if [ "$size" -gt $((16 * 1024 * 1024)) ]; then
    log "WARNING: $(basename "$f") is $size bytes: truncated to 16 MiB"
    truncate -s 16M "$f" 2>/dev/null || : >"$f"
  fi
done

# ---- summary
"$NODE" "$HERE/summarize.mjs" "$OUTDIR"
summary_rc=$?
log "steps: probe=${STEP_RC[probe]} selfcheck=${STEP_RC[selfcheck]} bench=${STEP_RC[bench]} (exit codes); total ${SECONDS}s of ${TOTAL}s"
if [ "${STEP_RC[probe]}" = 0 ] && [ "${STEP_RC[selfcheck]}" = 0 ] && [ "$summary_rc" = 0 ]; then
  log "RESULT: probe and selfcheck passed"
  exit 0
fi
log "RESULT: probe and/or selfcheck did not pass (see above and $OUTDIR/run.log)"
exit 1

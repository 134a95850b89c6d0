# Helpers for run.sh (sourced; bash). Kept apart so tests can source them and check each one.

# Seconds kept free at the end for the size check and the summary table.
PORTABLE_RESERVE_S=10
# After `timeout` sends TERM, how long a step gets before KILL.
PORTABLE_KILL_AFTER_S=3

log() { printf '[run.sh %3ds] %s\n' "${SECONDS:-0}" "$*" >&2; }

# Typed failure in the house shape "what: why (hint)"; $1 is the exit status.
die() {
  local code=$1 what=$2 why=$3 hint=${4:-}
  printf 'run.sh: error: %s: %s%s\n' "$what" "$why" "${hint:+ ($hint)}" >&2
  exit "$code"
}

have() { command -v "$1" >/dev/null 2>&1; }

# The time policy, in one place. plan_budget STEP SECONDS_LEFT prints "BUDGET HARD_LIMIT":
# probe gets at most 30 s, selfcheck 40 % of what is left after it, bench everything that is left
# then, minus the reserve. The hard limit (what `timeout` enforces) is the budget plus a grace:
# selfcheck starts checks only while its budget lasts, so it may overshoot by one check (up to half
# its budget more, 10..90 s: one training-step check takes that long on a software adapter; bench
# gets what is left after it). bench is told 90 % of its share and killed at the share plus a
# grace out of the reserve: its estimates can be off by a few seconds, and a killed bench writes
# nothing; with KILL PORTABLE_KILL_AFTER_S after TERM it still ends 2 s before SECONDS_LEFT.
# A budget of 0 means: no time left, skip the step.
plan_budget() {
  local step=$1 left=$2 usable budget grace hard
  usable=$((left - PORTABLE_RESERVE_S))
  case $step in
    probe) budget=$((usable * 15 / 100)); clamp budget 5 30; grace=5 ;;
    selfcheck) budget=$((usable * 40 / 100)); grace=$((budget / 2)); clamp grace 10 90 ;;
    bench) budget=$((usable * 9 / 10)); grace=$((usable - budget + 5)) ;;
    *) die 70 "plan_budget" "unknown step '$step'" ;;
  esac
  [ "$budget" -gt "$usable" ] && budget=$usable
  [ "$budget" -lt 1 ] && { echo "0 0"; return; }
  hard=$((budget + grace))
  [ "$hard" -gt $((left - PORTABLE_KILL_AFTER_S - 2)) ] && hard=$((left - PORTABLE_KILL_AFTER_S - 2))
  echo "$budget $hard"
}

# clamp VAR LO HI: VAR (by name) into [LO, HI].
clamp() {
  local -n v=$1
  [ "$v" -lt "$2" ] && v=$2
  [ "$v" -gt "$3" ] && v=$3
  return 0
}

# unxz SRC DEST: xz if the machine has it, else Python's lzma module.
unxz_to() {
  local src=$1 dest=$2
  if have xz; then
    xz -dc "$src" >"$dest"
  elif have python3; then
    python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as i, open(sys.argv[2], "wb") as o: shutil.copyfileobj(i, o, 1 << 20)' "$src" "$dest"
  else
    die 1 "$src" "cannot decompress: neither 'xz' nor 'python3' is on PATH" "install xz-utils, or run on a machine with python3"
  fi
}

# untar_xz ARCHIVE DIR: a .tar.xz into DIR (Python's tarfile when there is no xz).
untar_xz() {
  local src=$1 dest=$2
  mkdir -p "$dest"
  if have xz && have tar; then
    xz -dc "$src" | tar -x -C "$dest"
  elif have python3; then
    python3 -c 'import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    t.extractall(sys.argv[2], **kw)' "$src" "$dest"
  else
    die 1 "$src" "cannot unpack: needs 'xz' and 'tar', or 'python3'" "install xz-utils, or run on a machine with python3"
  fi
}

# unpack_deb DEB DIR: the package's files under DIR (a private prefix; never over /). dpkg -x
# where there is dpkg; else Python reads the ar archive and untars data.tar.* from it.
unpack_deb() {
  local deb=$1 dest=$2
  mkdir -p "$dest"
  if have dpkg && [ -z "${ECHOCLIP_NO_DPKG:-}" ]; then
    dpkg -x "$deb" "$dest"
  elif have python3; then
    python3 -c 'import io, sys, tarfile
data = open(sys.argv[1], "rb").read()
if data[:8] != b"!<arch>\n": sys.exit(sys.argv[1] + ": not a Debian package (no ar header)")
pos = 8
while pos + 60 <= len(data):
    name = data[pos:pos + 16].decode().strip().rstrip("/")
    size = int(data[pos + 48:pos + 58].decode().strip())
    body = data[pos + 60:pos + 60 + size]
    if name.startswith("data.tar"):
        with tarfile.open(fileobj=io.BytesIO(body)) as t:
            kw = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            t.extractall(sys.argv[2], **kw)
        sys.exit(0)
    pos += 60 + size + (size & 1)
sys.exit(sys.argv[1] + ": no data.tar member")' "$deb" "$dest"
  else
    die 1 "$deb" "cannot unpack: neither 'dpkg' nor 'python3' is on PATH" "install dpkg or python3, or install the Vulkan loader (libvulkan1 / vulkan-loader)"
  fi
}

# Where the machine's own libvulkan.so.1 is (prints the path; status 1 when there is none).
# ECHOCLIP_LIB_DIRS (colon list) replaces the folders looked in, and skips ldconfig (tests).
system_vulkan_loader() {
  local d dirs
  if [ -z "${ECHOCLIP_LIB_DIRS+x}" ]; then
    local ldc
    for ldc in ldconfig /sbin/ldconfig /usr/sbin/ldconfig; do
      if have "$ldc" || [ -x "$ldc" ]; then
        d=$("$ldc" -p 2>/dev/null | sed -n 's/^[[:space:]]*libvulkan\.so\.1 (.*x86-64.*) => //p' | head -n1)
        [ -n "$d" ] && { echo "$d"; return 0; }
        break
      fi
    done
    dirs="${LD_LIBRARY_PATH:-}:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib64:/usr/lib64:/usr/local/lib:/usr/lib:/lib"
  else
    dirs=$ECHOCLIP_LIB_DIRS
  fi
  local IFS=:
  for d in $dirs; do
    [ -n "$d" ] && [ -e "$d/libvulkan.so.1" ] && { echo "$d/libvulkan.so.1"; return 0; }
  done
  return 1
}

#!/usr/bin/env bash
# Machine setup for echoclip-webgpu on Debian/Ubuntu without a GPU.
# Idempotent: installs only what is missing. Needs root (or sudo).
#  - Mesa >= 25 lavapipe (software Vulkan) from the distribution's backports suite, using the
#    same mirror URI the machine already uses (Debian 12's own Mesa 22.3 gives no adapter).
#  - chromium (browser tests; its SwiftShader ICD is our second adapter).
#  - Debian's python3-torch + python3-numpy (CPU PyTorch 1.13, into /usr/bin/python3), so the
#    PyTorch peer (bench/peers/torch_clip.py) is exercised; a failure here only warns.
#  - Debian's DICOM tools (dcmtk, libgdcm-tools, python3-pydicom, python3-gdcm): the DICOM test
#    corpus is generated with them (test/video/dicom-corpus.ts); installed on every machine.
# On a machine with a real GPU it changes nothing else.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-machine: needs root or sudo to install packages" >&2; exit 1; fi
fi
log() { printf 'setup-machine: %s\n' "$*" >&2; }

has_real_gpu() {
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then return 0; fi
  # A DRM render node means a kernel GPU driver (amdgpu, i915, nouveau, ...) is bound.
  compgen -G "/dev/dri/renderD*" >/dev/null 2>&1
}

mesa_major() {
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
  v=${v#*:}            # drop an epoch
  echo "${v%%.*}"
}

LVP_ICD=/usr/share/vulkan/icd.d/lvp_icd.json
SWS_ICD=/usr/lib/chromium/vk_swiftshader_icd.json
APT_UPDATED=0
apt_update() {
  if [ "$APT_UPDATED" -eq 0 ]; then
    # An unreachable third-party source must not stop us: apt still refreshes the others.
    $SUDO apt-get update -y -o Acquire::Retries=2 >&2 || log "apt-get update reported errors (continuing)"
    APT_UPDATED=1
  fi
}

# The mirror this machine already uses for the main Debian/Ubuntu archive.
main_mirror_uri() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822: take the URIs of a stanza whose Suites lists the release codename itself.
    uri=$(awk -v cn="$CODENAME" '
      BEGIN { RS=""; FS="\n" }
      {
        u=""; s=""
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/)   { u = $i; sub(/^URIs:[ \t]*/, "", u) }
          if ($i ~ /^Suites:/) { s = " " $i " " }
        }
        if (u != "" && s ~ (" " cn " ")) { split(u, a, " "); print a[1]; exit }
      }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk -v cn="$CODENAME" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { if ($(i+1) == cn) { print $i; exit } else break } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
}

if has_real_gpu; then
  log "a real GPU is present: changing nothing"
else
  . /etc/os-release
  CODENAME=${VERSION_CODENAME:-}
  [ -n "$CODENAME" ] || { log "cannot tell the release codename from /etc/os-release"; exit 1; }

  if [ "$(mesa_major)" != "" ] && [ "$(mesa_major)" -ge 25 ] && [ -f "$LVP_ICD" ]; then
    log "Mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) lavapipe already installed"
  else
    MIRROR=$(main_mirror_uri)
    [ -n "$MIRROR" ] || { log "no apt source for '$CODENAME' found to take the mirror URI from"; exit 1; }
    BP=/etc/apt/sources.list.d/${CODENAME}-backports.sources
    if ! grep -rqs "${CODENAME}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      log "adding ${CODENAME}-backports from $MIRROR"
      KEYRING=$(awk '/^Signed-By:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
      {
        echo "Types: deb"
        echo "URIs: $MIRROR"
        echo "Suites: ${CODENAME}-backports"
        echo "Components: main"
        [ -n "$KEYRING" ] && echo "Signed-By: $KEYRING"
      } | $SUDO tee "$BP" >/dev/null
      APT_UPDATED=0
    fi
    apt_update
    log "installing mesa-vulkan-drivers from ${CODENAME}-backports"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
      -t "${CODENAME}-backports" mesa-vulkan-drivers libvulkan1 >&2
    m=$(mesa_major)
    if [ -z "$m" ] || [ "$m" -lt 25 ]; then
      log "installed Mesa is '$m', need >= 25 (backports did not provide it)"; exit 1
    fi
  fi

  if [ -x /usr/bin/chromium ] && [ -f "$SWS_ICD" ]; then
    log "chromium already installed ($(/usr/bin/chromium --version 2>/dev/null | head -1))"
  else
    apt_update
    log "installing chromium"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium >&2
  fi

  # Optional: CPU PyTorch for the PyTorch-peer tests. Without it those tests check that the probe
  # says why torch is missing, so a failed install must not fail the setup.
  if /usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1; then
    log "python3-torch already installed ($(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null))"
  else
    apt_update
    log "installing python3-torch python3-numpy (CPU PyTorch for the PyTorch peer)"
    if ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends python3-torch python3-numpy >&2; then
      log "WARNING: python3-torch could not be installed; the PyTorch peer tests will only check the probe's reason"
    fi
  fi
fi

# DICOM tools for the test corpus; those tests fail in CI without them.
if command -v dcmcjpeg >/dev/null 2>&1 && command -v gdcmconv >/dev/null 2>&1 && /usr/bin/python3 -c 'import pydicom, gdcm, numpy' >/dev/null 2>&1; then
  log "DICOM tools already installed (dcmtk, gdcm, pydicom)"
else
  apt_update
  log "installing dcmtk libgdcm-tools python3-pydicom python3-gdcm python3-numpy (DICOM test corpus)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends dcmtk libgdcm-tools python3-pydicom python3-gdcm python3-numpy >&2
fi

# Report what the project will use.
for icd in "$LVP_ICD" "$SWS_ICD"; do
  [ -f "$icd" ] && log "Vulkan ICD available: $icd"
done
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -d "$here/node_modules/webgpu" ] && [ -f "$here/dist/cli/main.js" ]; then
  XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)} node "$here/bin/echoclip.js" probe >&2 || log "no working WebGPU adapter yet"
else
  log "after 'npm ci', 'npx echoclip probe' shows the WebGPU adapter"
fi

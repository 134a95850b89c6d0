#!/usr/bin/env bash
# Picks the Vulkan driver manifest (ICD JSON) for run.sh: a hardware vendor's (NVIDIA, then
# AMD, then Intel, then any other) before software rasterizers (lavapipe, SwiftShader).
#
#   find-icd.sh         prints the chosen ICD JSON path, or nothing when none is found
#   find-icd.sh --all   prints every candidate, best first, as "RANK<TAB>PATH"
#
# Order of precedence: $ECHOCLIP_ICD (must exist), then a VK_DRIVER_FILES / VK_ICD_FILENAMES the
# caller already set, then the search. ECHOCLIP_ICD_ROOTS=dir1:dir2 replaces the folders searched
# (tests). Reasons go to stderr.
set -u

note() { printf 'find-icd: %s\n' "$*" >&2; }

# Lower is better. Judged by the file name and the driver library it names.
rank_icd() {
  local name lib
  name=$(basename "$1" | tr '[:upper:]' '[:lower:]')
  lib=$(sed -n 's/.*"library_path"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$1" 2>/dev/null | head -n1 | tr '[:upper:]' '[:lower:]')
  case "$name $lib" in
    *lvp* | *lavapipe* | *llvmpipe* | *swiftshader* | *swrast*) echo 90 ;;
    *nvidia*) echo 10 ;;
    *amd* | *radeon*) echo 20 ;;
    *intel*) echo 30 ;;
    *) echo 50 ;;
  esac
}

default_roots() {
  local d IFS=:
  echo /etc/vulkan/icd.d
  for d in ${XDG_CONFIG_DIRS:-/etc/xdg}; do [ -n "$d" ] && echo "$d/vulkan/icd.d"; done
  # GPU container hosts (NVIDIA container toolkit) mount the driver here.
  echo /usr/local/nvidia/share/vulkan/icd.d
  echo /usr/local/share/vulkan/icd.d
  echo /usr/share/vulkan/icd.d
  for d in ${XDG_DATA_DIRS:-/usr/local/share:/usr/share}; do [ -n "$d" ] && echo "$d/vulkan/icd.d"; done
}

candidates() {
  local root f real seen=:
  local roots
  if [ -n "${ECHOCLIP_ICD_ROOTS+x}" ]; then roots=$(printf '%s\n' "$ECHOCLIP_ICD_ROOTS" | tr ':' '\n'); else roots=$(default_roots); fi
  while IFS= read -r root; do
    [ -n "$root" ] && [ -d "$root" ] || continue
    for f in "$root"/*.json; do
      [ -f "$f" ] || continue
      # The same driver is often linked into several folders: list it once.
      real=$(readlink -f "$f" 2>/dev/null || echo "$f")
      case $seen in *":$real:"*) continue ;; esac
      seen="$seen$real:"
      printf '%s\t%s\n' "$(rank_icd "$f")" "$f"
    done
  done <<<"$roots"
}

if [ -n "${ECHOCLIP_ICD:-}" ]; then
  if [ ! -f "$ECHOCLIP_ICD" ]; then
    note "ECHOCLIP_ICD=$ECHOCLIP_ICD: no such file (unset it to search, or point it at the driver's icd.json)"
    exit 1
  fi
  note "using ECHOCLIP_ICD=$ECHOCLIP_ICD"
  [ "${1:-}" = --all ] && printf '0\t%s\n' "$ECHOCLIP_ICD" || echo "$ECHOCLIP_ICD"
  exit 0
fi
preset=${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-}}
if [ -n "$preset" ]; then
  note "using the caller's VK_DRIVER_FILES/VK_ICD_FILENAMES=$preset"
  [ "${1:-}" = --all ] && printf '0\t%s\n' "$preset" || echo "$preset"
  exit 0
fi

# sort -s keeps the folder order among drivers of the same rank.
list=$(candidates | sort -s -n -k1,1)
if [ "${1:-}" = --all ]; then
  [ -n "$list" ] && printf '%s\n' "$list"
  exit 0
fi
if [ -z "$list" ]; then
  note "no Vulkan ICD JSON found in the usual icd.d folders"
  exit 0
fi
while IFS=$'\t' read -r rank path; do note "candidate (rank $rank): $path"; done <<<"$list"
best=$(printf '%s\n' "$list" | head -n1 | cut -f2-)
note "chose $best"
echo "$best"

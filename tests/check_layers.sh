#!/usr/bin/env bash
# The layer rule of DESIGN.md section 1, checked on every #include of the tree:
#   core/base   <- everything (status, tensor views)
#   formats     -> core/base only
#   core        -> core/base, formats, its own folders (never kernels/, cli/, CUDA or CLI11)
#   core/modelgen -> core/base, formats (model files from math; core never includes it)
#   kernels     -> core/base and the Backend interface (core/backend.h, core/model/model_config.h)
#   cli         -> anything
# Prints each include that breaks the rule and exits 1 if there is any.
set -euo pipefail
cd "${1:-$(dirname "${BASH_SOURCE[0]}")/..}"

allowed() {  # allowed FILE INCLUDED
  local file=$1 inc=$2
  case $file in
    core/base/*) [[ $inc == core/base/* ]] ;;
    formats/*) [[ $inc == core/base/* || $inc == formats/* ]] ;;
    core/modelgen/*) [[ $inc == core/base/* || $inc == formats/* || $inc == core/modelgen/* ]] ;;
    core/*) [[ ($inc == core/* && $inc != core/modelgen/*) || $inc == formats/* ]] ;;
    kernels/*) [[ $inc == core/base/* || $inc == core/backend.h || $inc == core/model/model_config.h ||
                  $inc == kernels/* ]] ;;
    *) true ;;
  esac
}

bad=0
while IFS= read -r file; do
  while IFS= read -r inc; do
    if ! allowed "$file" "$inc"; then
      echo "$file includes \"$inc\": not allowed by the layer rule (DESIGN.md section 1)"
      bad=1
    fi
  done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
  if [[ $file == core/* ]] && grep -Eq '^#include <(cuda|cublas|nccl|CLI/)' "$file"; then
    echo "$file includes a CUDA or CLI11 header: core never does"
    bad=1
  fi
done < <(find core formats kernels -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) | sort)
exit $bad

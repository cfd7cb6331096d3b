#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fails on an #include that breaks the module arrows (docs/ARCHITECTURE.md,
# "Dependency arrows"): every `#include "M/..."` in src/<module>/ must name a
# module that <module> may reach. The table below is CMakeLists.txt's
# gm_add_module lines with their arrows followed (the build enforces the same
# through each module's include root); this check needs no compiler and
# names the file and line. Also refused: "../" paths, which step around it.
#
#   tests/rules/check_includes.sh [SRC_DIR]     (default: src of this tree)
# Exit 0: clean; 1: a forbidden include (each printed); 2: usage.
set -euo pipefail

src=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/src}
[ -d "$src" ] || { echo "check_includes: no directory $src" >&2; exit 2; }

# module: the modules its files may include from (itself always).
declare -A reach=(
    [core]=""
    [engine]="core"
    [model]="engine core"
    [vae]="model engine core"
    [gan]="model engine core"
    [io]="engine core model vae gan"
    [eval]="engine core vae model"
    [interp]="engine core"
)

bad=0
for dir in "$src"/*/; do
    mod=$(basename "$dir")
    if [ -z "${reach[$mod]+set}" ]; then
        echo "$mod/: not a known module: add it to tests/rules/check_includes.sh and CMakeLists.txt"
        bad=1
        continue
    fi
    allowed=" $mod ${reach[$mod]} "
    while IFS=: read -r file line text; do
        target=$(sed -n 's|^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*|\1|p' <<<"$text")
        [ -n "$target" ] || continue
        rel=${file#"$src"/}
        case $target in
        ../* | */../*)
            echo "src/$rel:$line: #include \"$target\": no ../ paths (name the module)"
            bad=1
            continue
            ;;
        */*) ;;
        *) continue ;; # a header next to the file
        esac
        dep=${target%%/*}
        if [ -n "${reach[$dep]+set}" ] && [[ $allowed != *" $dep "* ]]; then
            echo "src/$rel:$line: #include \"$target\": $mod may not include $dep (allowed: $mod ${reach[$mod]:-nothing else})"
            bad=1
        fi
    done < <(grep -rn --include='*.c' --include='*.h' '^[[:space:]]*#[[:space:]]*include' "$dir" || true)
done
if [ "$bad" = 0 ]; then
    echo "check_includes: every #include in $src follows the module arrows"
fi
exit "$bad"

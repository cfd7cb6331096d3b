#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A real colour data set for gm_image_folder_load: the ~3,700 emoji of
# Debian's fonts-noto-color-emoji (136 x 128 colour PNGs inside the font's
# CBDT table) extracted with python3-fonttools into OUT_DIR/<group>/*.png,
# one sub-folder per emoji group (labels). See scripts/emoji_dataset.py for
# the groups and the code point ranges behind them.
#
#   scripts/emoji_dataset.sh OUT_DIR           # all groups
#   scripts/emoji_dataset.sh OUT_DIR --faces   # only faces and people
#   scripts/emoji_dataset.sh OUT_DIR --portraits  # only heads (faces)
#
# OUT_DIR is emptied first. The images are not part of the repository.
set -euo pipefail
if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
    echo "usage: $0 OUT_DIR [--faces | --portraits]" >&2
    exit 2
fi
out=$1
shift
py=/usr/bin/python3
font=/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
if [ ! -f "$font" ]; then
    echo "emoji_dataset: no $font (Debian package fonts-noto-color-emoji)" >&2
    exit 3
fi
if ! "$py" -c 'import fontTools' 2>/dev/null; then
    echo "emoji_dataset: $py cannot import fontTools (Debian package python3-fonttools)" >&2
    exit 3
fi
rm -rf -- "$out"
mkdir -p -- "$out"
exec "$py" "$(dirname "$0")/emoji_dataset.py" "$out" --font "$font" "$@"

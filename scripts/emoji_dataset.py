#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Extracts the colour emoji bitmaps of Noto Color Emoji into an image
folder for gm_image_folder_load (run through scripts/emoji_dataset.sh).

    /usr/bin/python3 scripts/emoji_dataset.py OUT_DIR [--faces | --portraits] [--font FILE]

Needs python3-fonttools and fonts-noto-color-emoji (Debian). The font keeps
one 136 x 128 PNG per glyph in its CBDT table; each is written unchanged as
OUT_DIR/<group>/<code points>.png, e.g. smileys_emotion/1f600.png or
people/1f44d_1f3fd.png (code points in hex joined by '_' in the order of
the font's ligature, which for some ZWJ sequences is not the Unicode
order; variation selector FE0F dropped from the name). A glyph's code point sequence comes
from the font's cmap (single code points) and its GSUB ligatures
(sequences: ZWJ sequences, skin tones, flags, keycaps); glyphs reached by
neither (internal components) are left out.

Groups (sub-folders, so labels): the first rule that matches the sequence
wins; they follow the Unicode emoji groups approximately, by code point
ranges (the ranges are below, in GROUPS):
  flags            regional-indicator pairs, tag sequences (England, ...),
                   and the flag glyphs 1F3C1, 1F38C, 1F3F3, 1F3F4, 1F6A9
  people           any sequence with a skin-tone modifier (1F3FB-1F3FF)
                   or a person, body part or gesture (PEOPLE ranges)
  smileys_emotion  faces (1F600-1F64F without the gestures, 1F910-1F92F,
                   1F970-1F97A, ...), hearts and emotion symbols
  animals_nature   animals (1F400-1F43F, 1F980-1F9AE, ...) and plants
  food_drink       food and drink (1F345-1F37F, 1F950-1F96F, ...)
  travel_places    places, transport, sky and weather (1F300-1F32F,
                   1F680-1F6FF, 1F3D4-1F3F0, ...)
  activities       events, sports, games (1F380-1F3CF, 1F93A-1F94F, ...)
  objects          1F4B0-1F4FF, 1F507-1F5FF, 1F6E0-..., 1FA70-1FAFF, ...
  symbols          everything else (arrows, signs, keycaps, 2000-2BFF, ...)
With --faces only the "faces and people" subset is written: the groups
smileys_emotion restricted to face glyphs (FACES ranges) and people
(person glyphs with all their skin-tone variants).
With --portraits only heads are written, the glyphs a person calls emoji
faces: the face glyphs of --faces (smileys_emotion, the yellow faces) and
the people glyphs that are one head or bust (HEADS: boy, girl, man, woman,
person, child, older person, baby, bearded, blond, turban, cap, headscarf,
police officer, guard, construction worker, prince, princess, Santa, Mrs
Claus) in every skin tone, hair colour (1F9B0-1F9B3) and gender sign, but
no professions, gestures, activities, bodies or families.
Prints the number of pictures per group.
"""

import argparse
import os
import sys

from fontTools.ttLib import TTFont

FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
PNG_SIG = b"\x89PNG\r\n\x1a\n"


def R(a, b=None):
    return (a, a if b is None else b)


FACES = [R(0x1F600, 0x1F637), R(0x1F641, 0x1F644), R(0x1F910, 0x1F915), R(0x1F917),
         R(0x1F920, 0x1F925), R(0x1F927, 0x1F92F), R(0x1F970, 0x1F976), R(0x1F978, 0x1F97A),
         R(0x1F9D0), R(0x1FAE0, 0x1FAE8), R(0x2639, 0x263A), R(0x1F62E, 0x1F635)]
PEOPLE = [R(0x1F442, 0x1F450), R(0x1F464, 0x1F487), R(0x1F48F), R(0x1F491), R(0x1F4AA),
          R(0x1F574, 0x1F57A), R(0x1F590), R(0x1F595, 0x1F596), R(0x1F645, 0x1F64F),
          R(0x1F6A3), R(0x1F6B4, 0x1F6B6), R(0x1F6C0), R(0x1F6CC), R(0x1F3C2, 0x1F3C4),
          R(0x1F3C7), R(0x1F3CA, 0x1F3CC), R(0x1F90C), R(0x1F90F), R(0x1F918, 0x1F91F),
          R(0x1F926), R(0x1F930, 0x1F939), R(0x1F93C, 0x1F93E), R(0x1F9B0, 0x1F9B9),
          R(0x1F9BB), R(0x1F9BE, 0x1F9BF), R(0x1F9CD, 0x1F9CF), R(0x1F9D1, 0x1F9DF),
          R(0x1FAC3, 0x1FAC5), R(0x1FAF0, 0x1FAF8), R(0x261D), R(0x26F7), R(0x26F9),
          R(0x270A, 0x270D), R(0x1F463), R(0x1F9E0), R(0x1FAC0, 0x1FAC2)]
GROUPS = [
    ("smileys_emotion", FACES + [R(0x1F638, 0x1F640), R(0x1F47B, 0x1F480), R(0x1F4A9),
                                 R(0x1F48B, 0x1F48E), R(0x1F490), R(0x1F492, 0x1F49F),
                                 R(0x1F4A2, 0x1F4AD), R(0x2763, 0x2764), R(0x1F5A4),
                                 R(0x1F90D, 0x1F90E), R(0x1F9E1), R(0x1FA75, 0x1FA77),
                                 R(0x1F573), R(0x1F5E8), R(0x1F5EF), R(0x1F916),
                                 R(0x1F921), R(0x1F47A)]),
    ("animals_nature", [R(0x1F400, 0x1F43F), R(0x1F980, 0x1F9AE), R(0x1F330, 0x1F344),
                        R(0x1F490), R(0x1F4AE), R(0x1F3F5), R(0x1F3F5, 0x1F3F7),
                        R(0x1F54A), R(0x1F577, 0x1F578), R(0x1F940), R(0x1FAB0, 0x1FABF),
                        R(0x1FAB7), R(0x1F9A0, 0x1F9AF), R(0x2618)]),
    ("food_drink", [R(0x1F345, 0x1F37F), R(0x1F950, 0x1F96F), R(0x1F9C0, 0x1F9CB),
                    R(0x1FAD0, 0x1FADB), R(0x2615), R(0x1F32D, 0x1F32F), R(0x1F942),
                    R(0x1F943), R(0x1F944), R(0x1F9C2), R(0x1FAD9)]),
    ("travel_places", [R(0x1F300, 0x1F32C), R(0x1F680, 0x1F6FF), R(0x1F3D4, 0x1F3F0),
                       R(0x26F0, 0x26FF), R(0x1F5FA, 0x1F5FF), R(0x1F30D, 0x1F30F),
                       R(0x2600, 0x2604), R(0x2614), R(0x26A1), R(0x26C4, 0x26C5),
                       R(0x26C8), R(0x2708), R(0x2744), R(0x1F4BA), R(0x1F9F3), R(0x1F9ED),
                       R(0x1F6F8), R(0x1F570), R(0x231A, 0x231B), R(0x23F0, 0x23F3),
                       R(0x1F550, 0x1F567), R(0x1F3A0, 0x1F3A2), R(0x1F488)]),
    ("activities", [R(0x1F380, 0x1F3CF), R(0x1F93A, 0x1F94F), R(0x26BD, 0x26BE),
                    R(0x1FA80, 0x1FA8F), R(0x1F3D0, 0x1F3D3), R(0x1F0CF), R(0x1F004),
                    R(0x2660, 0x2667), R(0x265F), R(0x1F9E7, 0x1F9E9), R(0x1F9FF),
                    R(0x1F52E), R(0x1F579), R(0x1F5BC), R(0x1F3AD), R(0x1F9F5, 0x1F9F6),
                    R(0x1FAA1, 0x1FAA2)]),
    ("objects", [R(0x1F4B0, 0x1F4FF), R(0x1F507, 0x1F53D), R(0x1F56F, 0x1F5F9),
                 R(0x1F6E0, 0x1F6FF), R(0x1FA70, 0x1FAFF), R(0x231A, 0x23FF),
                 R(0x2328), R(0x260E), R(0x2692, 0x2697), R(0x2699), R(0x269B, 0x269C),
                 R(0x26B0, 0x26B1), R(0x26CF), R(0x26D1), R(0x26D3), R(0x2702),
                 R(0x2709), R(0x270F), R(0x2712), R(0x1F451, 0x1F462), R(0x1F489, 0x1F48A),
                 R(0x1F4A1), R(0x1F4A3), R(0x1F9E2, 0x1F9E6), R(0x1F9EA, 0x1F9FE),
                 R(0x1F97B, 0x1F97F), R(0x1F3EE), R(0x1F3F7), R(0x1F3F9, 0x1F3FA),
                 R(0x1F52A, 0x1F52D), R(0x1F4FF), R(0x1F9AF), R(0x1F9BA), R(0x1F9BC, 0x1F9BD)]),
]
HEADS = [R(0x1F466, 0x1F469), R(0x1F9D1, 0x1F9D5), R(0x1F474, 0x1F478), R(0x1F471, 0x1F473),
         R(0x1F46E), R(0x1F477), R(0x1F482), R(0x1F934), R(0x1F385), R(0x1F936)]
# what a head may carry in its sequence: skin tones, ZWJ, VS16, gender, hair
HEAD_PARTS = [R(0x1F3FB, 0x1F3FF), R(0x200D), R(0xFE0F), R(0x2640), R(0x2642),
              R(0x1F9B0, 0x1F9B3)]
FLAG_BASES = {0x1F3C1, 0x1F38C, 0x1F3F3, 0x1F3F4, 0x1F6A9}


def in_ranges(cp, ranges):
    return any(a <= cp <= b for a, b in ranges)


def group_of(seq):
    if any(0x1F1E6 <= c <= 0x1F1FF or 0xE0020 <= c <= 0xE007F for c in seq) or (
            seq[0] in FLAG_BASES):
        return "flags"
    if any(0x1F3FB <= c <= 0x1F3FF or in_ranges(c, PEOPLE) for c in seq):
        return "people"
    for name, ranges in GROUPS:
        if in_ranges(seq[0], ranges):
            return name
    return "symbols"


def is_face_or_person(seq, group):
    return group == "people" or (group == "smileys_emotion" and in_ranges(seq[0], FACES))


def is_portrait(seq, group):
    if group == "smileys_emotion":
        return len(seq) == 1 and in_ranges(seq[0], FACES)
    heads = [c for c in seq if in_ranges(c, HEADS)]
    return group == "people" and len(heads) == 1 and all(
        in_ranges(c, HEADS) or in_ranges(c, HEAD_PARTS) for c in seq)


def sequences(font):
    """glyph name -> tuple of code points, from the cmap and GSUB ligatures."""
    seq = {}
    for cp, g in font.getBestCmap().items():
        if g not in seq or len(seq[g]) > 1:
            seq[g] = (cp,)
    ligs = []
    if "GSUB" in font:
        for lookup in font["GSUB"].table.LookupList.Lookup:
            for sub in lookup.SubTable:
                if lookup.LookupType == 7:
                    sub = sub.ExtSubTable
                if getattr(sub, "LookupType", lookup.LookupType) != 4:
                    continue
                for first, lst in sub.ligatures.items():
                    for lig in lst:
                        ligs.append((first, lig.Component, lig.LigGlyph))
    changed = True
    while changed:  # ligatures may build on ligatures
        changed = False
        for first, comps, out in ligs:
            if out in seq or first not in seq or any(c not in seq for c in comps):
                continue
            seq[out] = seq[first] + sum((seq[c] for c in comps), ())
            changed = True
    return seq


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--faces", action="store_true", help="only faces and people")
    mode.add_argument("--portraits", action="store_true",
                      help="only heads: yellow faces and people's heads in every skin tone")
    ap.add_argument("--font", default=FONT)
    args = ap.parse_args()
    font = TTFont(args.font)
    strike = font["CBDT"].strikeData[0]
    seq = sequences(font)
    counts, left_out, seen = {}, 0, set()
    for glyph, bitmap in sorted(strike.items()):
        data = getattr(bitmap, "imageData", b"")
        if glyph not in seq or not data.startswith(PNG_SIG):
            left_out += 1
            continue
        s = seq[glyph]
        group = group_of(s)
        if args.faces and not is_face_or_person(s, group):
            continue
        if args.portraits and not is_portrait(s, group):
            continue
        name = "_".join("%x" % c for c in s if c != 0xFE0F)
        if (group, name) in seen:
            continue
        seen.add((group, name))
        d = os.path.join(args.out, group)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name + ".png"), "wb") as f:
            f.write(data)
        counts[group] = counts.get(group, 0) + 1
    for g in sorted(counts):
        print("%-16s %5d" % (g, counts[g]))
    print("%-16s %5d  (%d glyphs without a code point sequence left out)"
          % ("total", sum(counts.values()), left_out))
    return 0 if counts else 1


if __name__ == "__main__":
    sys.exit(main())

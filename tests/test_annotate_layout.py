"""The annotated DICOM image (annotated_image.annotate) drawn pixel for pixel: every position, size and colour below is
worked out by hand from the rule in annotate's docstring and comments, then drawn with Pillow itself (the
independent reference) and compared with what annotate burnt in.

The rules, as worked here: text size round(shorter side / 45), at least 12 px; outline width shorter side // 300, at
least 2 px; banner lines every round(1.3 x size) px from size // 4 down, text at size // 2 from the left, the black
banner from row 0 to lines x step + size // 2; each tag "<side or ?> <percent> <above|below|at> threshold" (the
percent with as few decimals as tell it from the threshold's, 0 to 3) on a black backdrop as
wide as the text plus size // 2 and as high plus size // 4, text at size // 4 inside it; the backdrop ends at the box's
right edge when the box's middle lies left of the film's middle (else it starts at the box's left edge), slides to
stay whole inside the image, and sits above the box or one row under the banner, whichever is lower. The legend
takes the banner's last rows (one row step each, after the lines): one entry per call colour on the film, suspected,
borderline, not suspected, in that order: a swatch from (left, top + size // 3) to (left + size * 2 // 3, top + size)
in the colour, then the words in the colour at left + size * 2 // 3 + size // 3; entries size apart from size // 2,
a new row when an entry (not the row's first) would end past width - size // 2. Only the text's own width and height
come from Pillow's measurement of the string.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from osteo_desktop.core.results.annotated_image import RESEARCH_NOTICE, KneeFinding, annotate, legend
from osteo_desktop.core.results import text

ORANGE, GREEN, NEUTRAL = "#e8873a", "#4caf7a", "#c8ccd2"  # positive, negative, borderline (palette, by hand)
WHITE, LIGHT, RED = (255, 255, 255), (220, 220, 220), (255, 80, 80)  # headline, detail, research notice


def _measure(tag: str, size: int) -> tuple[int, int]:
    """The text's own width and height as Pillow measures them (from the origin, as drawn at (0, 0))."""
    _, _, width, height = ImageDraw.Draw(Image.new("RGB", (1, 1))).textbbox((0, 0), tag, font=_font(size))
    return width, height


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _expected(base: np.ndarray, size: int, outline: int, banner_bottom: int, lines: list[tuple[str, tuple, int]],
              boxes: list[tuple[tuple, str]], tags: list[tuple[str, str, int, int]],
              legend: list[tuple[str, str, int, int]] = ()) -> np.ndarray:
    """Draw by hand: ``base`` (uint8 grey), the boxes' outlines, the banner and its lines (text, fill, top), the
    legend's entries (words, colour, left, top), then each tag (text, colour, backdrop left, backdrop top)."""
    image = Image.fromarray(base).convert("RGB")
    draw = ImageDraw.Draw(image)
    font = _font(size)
    for box, colour in boxes:
        draw.rectangle(box, outline=(0, 0, 0), width=outline + 2)  # 2 dark pixels inside the coloured line
        draw.rectangle(box, outline=colour, width=outline)
    draw.rectangle((0, 0, image.width, banner_bottom), fill=(0, 0, 0))
    for line, fill, top in lines:
        draw.text((size // 2, top), line, fill=fill, font=font)
    for words, colour, left, top in legend:
        draw.rectangle((left, top + size // 3, left + size * 2 // 3, top + size), fill=colour)
        draw.text((left + size * 2 // 3 + size // 3, top), words, fill=colour, font=font)
    for tag, colour, left, top in tags:
        width, height = _measure(tag, size)
        draw.rectangle((left, top, left + width + size // 2, top + height + size // 4), fill=(0, 0, 0))
        draw.text((left + size // 4, top), tag, fill=colour, font=font)
    return np.asarray(image)


def _differ(got: np.ndarray, want: np.ndarray) -> str:
    rows, cols = np.nonzero((got != want).any(axis=2))
    return f"{rows.size} pixels differ, first at {list(zip(rows[:5].tolist(), cols[:5].tolist()))}"


def test_a_small_film_with_two_knees_and_three_banner_lines():
    """600 x 450 (width x height): size max(12, round(450 / 45) = 10) = 12, outline max(2, 450 // 300 = 1) = 2,
    step round(15.6) = 16, three lines at rows 3, 19, 35, the legend's row at 51, banner rows 0..(4 x 16 + 6 = 70).
    The detail's em dash is drawn as a hyphen (the bundled font has none). Legend: orange "Osteoporosis suspected"
    from 6 (its words at 6 + 8 + 4), then green "No sign of osteoporosis" 12 after its end: both fit in 600 - 6."""
    gray = np.full((450, 600), 0.5, dtype=np.float32)  # 0.5 x 255 = 127.5, truncated to 127
    right = KneeFinding("R", (40, 200, 200, 400), "osteoporosis", 0.70, 0.36)  # middle 120 < 300: tag ends at x 200
    left = KneeFinding("L", (380, 200, 560, 400), "normal", 0.10, 0.36)  # middle 470 >= 300: tag starts at x 380
    got = annotate(gray, [right, left], "Osteoporosis suspected", "Probability 70 % \u2014 above")
    width_r, height_r = _measure("R 70 % above threshold", 12)
    _, height_l = _measure("L 10 % below threshold", 12)
    second = 6 + 8 + 4 + _measure("Osteoporosis suspected", 12)[0] + 12
    assert second + 12 + _measure("No sign of osteoporosis", 12)[0] <= 594  # the premise: one row
    want = _expected(np.full((450, 600), 127, np.uint8), 12, 2, 70,
                     [("Osteoporosis suspected", WHITE, 3), ("Probability 70 % - above", LIGHT, 19),
                      (RESEARCH_NOTICE, RED, 35)],
                     [((40, 200, 200, 400), ORANGE), ((380, 200, 560, 400), GREEN)],
                     [("R 70 % above threshold", ORANGE, 200 - (width_r + 6), 200 - (height_r + 3)),
                      ("L 10 % below threshold", GREEN, 380, 200 - (height_l + 3))],
                     [("Osteoporosis suspected", ORANGE, 6, 51), ("No sign of osteoporosis", GREEN, second, 51)])
    assert got.dtype == np.uint8 and got.shape == (450, 600, 3)
    assert (got == want).all(), _differ(got, want)
    # the pieces the comparison rests on, by hand: a 2 px outline with 2 dark pixels inside it, a black banner down
    # to row 70, the film below; the legend's orange swatch at rows 51 + 4 .. 51 + 12, columns 6 .. 6 + 8
    assert got[300, 40:42].tolist() == [[0xe8, 0x87, 0x3a]] * 2 and got[300, 42:44].tolist() == [[0, 0, 0]] * 2
    assert got[300, 44].tolist() == [127] * 3
    assert got[70, 599].tolist() == [0, 0, 0] and got[71, 599].tolist() == [127] * 3
    assert (got[55:64, 6:15] == [0xe8, 0x87, 0x3a]).all() and (got[54, 6:15] == 0).all() and (got[55:64, 5] == 0).all()


def test_a_large_film_places_tags_at_every_edge():
    """1800 x 1200: size round(1200 / 45 = 26.67) = 27, outline 1200 // 300 = 4, step round(35.1) = 35, no detail so
    two lines at rows 6 and 41, the legend's row at 76, banner rows 0..(3 x 35 + 13 = 118); a tag never starts above
    row 119. Legend in its order whatever the knees' order: orange, neutral, green, from 13, 27 apart, one row."""
    gray = np.full((1200, 1800), 0.5, dtype=np.float32)
    findings = [
        # side unknown, at the left edge: the tag would start at 20 - width < 0, so at 0; 30 - height is under the
        # banner, so row 119
        KneeFinding("", (0, 30, 20, 300), "osteoporosis", 0.38, 0.36),
        # at the right edge, right half: starts at 1770, slides left to end at the image's edge (1800 - width)
        KneeFinding("L", (1770, 400, 1799, 600), "normal", 0.10, 0.36),
        # middle exactly 900 = 1800 / 2: not left of the middle, so the tag starts at the box's left edge
        KneeFinding("R", (800, 700, 1000, 900), "osteoporosis", 0.70, 0.36),
        # middle 1080 (0.6 of the width): right half, starts at 1000
        KneeFinding("L", (1000, 1000, 1160, 1150), "normal", 0.10, 0.36),
        # middle 720 (0.4 of the width): left half, ends at 800
        KneeFinding("R", (640, 1000, 800, 1150), "normal", 0.33, 0.36),
    ]
    got = annotate(gray, findings, "Osteoporosis suspected")
    q38, l10, r70, r33 = "? 38 % above threshold", "L 10 % below threshold", "R 70 % above threshold", "R 33 % below threshold"
    w = {tag: _measure(tag, 27) for tag in (q38, l10, r70, r33)}
    pad_w, pad_h = 13, 6  # 27 // 2, 27 // 4
    keys = ("Osteoporosis suspected", "Borderline: read as undecided", "No sign of osteoporosis")
    entry = [18 + 9 + _measure(words, 27)[0] for words in keys]  # swatch 27 * 2 // 3, space 27 // 3, the words
    lefts = [13, 13 + entry[0] + 27, 13 + entry[0] + 27 + entry[1] + 27]
    assert lefts[2] + entry[2] <= 1800 - 13  # the premise: one row
    want = _expected(np.full((1200, 1800), 127, np.uint8), 27, 4, 118,
                     [("Osteoporosis suspected", WHITE, 6), (RESEARCH_NOTICE, RED, 41)],
                     [((0, 30, 20, 300), NEUTRAL), ((1770, 400, 1799, 600), GREEN), ((800, 700, 1000, 900), ORANGE),
                      ((1000, 1000, 1160, 1150), GREEN), ((640, 1000, 800, 1150), NEUTRAL)],
                     [(q38, NEUTRAL, 0, 119),
                      (l10, GREEN, 1800 - (w[l10][0] + pad_w), 400 - (w[l10][1] + pad_h)),
                      (r70, ORANGE, 800, 700 - (w[r70][1] + pad_h)),
                      (l10, GREEN, 1000, 1000 - (w[l10][1] + pad_h)),
                      (r33, NEUTRAL, 800 - (w[r33][0] + pad_w), 1000 - (w[r33][1] + pad_h))],
                     [(words, colour, left, 76) for words, colour, left in zip(keys, (ORANGE, NEUTRAL, GREEN), lefts)])
    assert (got == want).all(), _differ(got, want)
    assert got[118, 1799].tolist() == [0, 0, 0] and got[119, 1799].tolist() == [127] * 3  # banner ends at row 118
    assert got[500, 1770:1774].tolist() == [[0x4c, 0xaf, 0x7a]] * 4 and got[500, 1774:1776].tolist() == [[0, 0, 0]] * 2
    assert got[500, 1776].tolist() == [127] * 3


def test_a_film_narrower_than_its_tag_and_values_outside_0_to_1():
    """20 x 200: size 12, outline 2. No two words fit in 20 - 12 = 8 px, so each line's words take a row each: "x",
    then the notice's five words (rows 3, 19, ..., 83), the legend's row at 99 (its one entry wider than the film, from
    6 and cut at the film's edge), banner rows 0..(7 x 16 + 6 = 118). The tag is wider than the film, so it starts at
    column 0, one row under the banner. Grey below 0 is black and above 1 white (clipped before the 8-bit cast, not
    wrapped round)."""
    gray = np.full((200, 20), 0.5, dtype=np.float32)
    gray[160:, :10], gray[160:, 10:] = -0.25, 1.75
    base = np.full((200, 20), 127, np.uint8)
    base[160:, :10], base[160:, 10:] = 0, 255
    # middle 10 is not left of the film's middle 10: the tag would start at 2, and slides to 0 to stay whole
    got = annotate(gray, [KneeFinding("R", (2, 100, 18, 150), "osteoporosis", 0.70, 0.36)], "x")
    width, _ = _measure("R 70 % above threshold", 12)
    assert width + 6 > 20  # the premise: the tag is wider than the film
    notice = [(word, RED, 19 + 16 * i) for i, word in enumerate(("RESEARCH", "USE,", "NOT", "FOR", "DIAGNOSIS"))]
    want = _expected(base, 12, 2, 118, [("x", WHITE, 3), *notice], [((2, 100, 18, 150), ORANGE)],
                     [("R 70 % above threshold", ORANGE, 0, 119)], [("Osteoporosis suspected", ORANGE, 6, 99)])
    assert (got == want).all(), _differ(got, want)
    assert got[199, 0].tolist() == [0, 0, 0] and got[199, 19].tolist() == [255, 255, 255]


def test_a_tag_says_on_which_side_of_the_threshold_a_knee_falls():
    """Near a 0.3597 threshold two decimals read "0.36" on both sides of it. 400 x 300: size 12, outline 2, banner
    rows 0..54 (two lines, one legend entry at row 35: all three knees are borderline). Percent with as few decimals
    as tell it from the threshold's: 0.3589 -> 35.9 (35.97 at one decimal is 36.0), 0.3604 -> 36.04 (36.0 at one
    decimal, as the threshold), 0.3597 equal -> 36 and "at"."""
    gray = np.full((300, 400), 0.5, dtype=np.float32)
    below = KneeFinding("", (20, 100, 120, 200), "normal", 0.3589, 0.3597)  # middle 70 < 200: tag ends at x 120
    above = KneeFinding("L", (260, 100, 380, 200), "osteoporosis", 0.3604, 0.3597)  # middle 320: starts at x 260
    at = KneeFinding("R", (150, 230, 250, 290), "osteoporosis", 0.3597, 0.3597)  # middle 200: starts at x 150
    got = annotate(gray, [below, above, at], "x")
    tags = ("? 35.9 % below threshold", "L 36.04 % above threshold", "R 36 % at threshold")
    (wb, hb), (wa, ha), (_, hat) = (_measure(tag, 12) for tag in tags)
    assert wb + 6 > 120 and 260 + wa + 6 > 400  # the premise: the first two tags slide to stay whole in the image
    want = _expected(np.full((300, 400), 127, np.uint8), 12, 2, 54, [("x", WHITE, 3), (RESEARCH_NOTICE, RED, 19)],
                     [((20, 100, 120, 200), NEUTRAL), ((260, 100, 380, 200), NEUTRAL), ((150, 230, 250, 290), NEUTRAL)],
                     [(tags[0], NEUTRAL, 0, 100 - (hb + 3)), (tags[1], NEUTRAL, 400 - (wa + 6), 100 - (ha + 3)),
                      (tags[2], NEUTRAL, 150, 230 - (hat + 3))], [("Borderline: read as undecided", NEUTRAL, 6, 35)])
    assert (got == want).all(), _differ(got, want)


def test_the_tags_of_a_two_knee_film_fit_whole_and_apart():
    """A 1024 x 1024 two-knee film with the boxes the detector drew on one (normal_9011ba5d9de1), both sides from the
    film's position, the longest tags in use: size round(1024 / 45) = 23, outline 1024 // 300 = 3, step 30, three
    lines and the legend's row at 5 + 3 x 30 = 95, neutral then green (4 x 30 + 11 = banner rows 0..131). Each tag is wider than its knee's box: the right knee's would end at
    its box's right edge (388) and slides right to start at 0, the left knee's would start at its box's left edge
    (644) and slides left to end at the image's edge; each tag's text lies whole inside the image, below the
    banner, and the two tags lie apart."""
    gray = np.full((1024, 1024), 0.5, dtype=np.float32)
    findings = [KneeFinding("R", (24, 425, 388, 789), "normal", 0.194, 0.3597, "hanging_convention"),
                KneeFinding("L", (644, 461, 1012, 828), "osteoporosis", 0.390, 0.3597, "hanging_convention")]
    got = annotate(gray, findings, "Borderline (just above the threshold): read as undecided", "detail")
    tags = ("R (film position) 19 % below threshold", "L (film position) 39 % above threshold")
    (wr, hr), (wl, hl) = (_measure(tag, 23) for tag in tags)
    assert wr + 11 > 388 and 644 + wl + 11 > 1023  # the premise: both slide
    rects = [(0, 425 - (hr + 5), wr + 11, 425), (1024 - (wl + 11), 461 - (hl + 5), 1024, 461)]
    second = 11 + 15 + 7 + _measure("Borderline: read as undecided", 23)[0] + 23
    want = _expected(np.full((1024, 1024), 127, np.uint8), 23, 3, 131,
                     [("Borderline (just above the threshold): read as undecided", WHITE, 5), ("detail", LIGHT, 35),
                      (RESEARCH_NOTICE, RED, 65)],
                     [((24, 425, 388, 789), GREEN), ((644, 461, 1012, 828), NEUTRAL)],
                     [(tags[0], GREEN, rects[0][0], rects[0][1]), (tags[1], NEUTRAL, rects[1][0], rects[1][1])],
                     [("Borderline: read as undecided", NEUTRAL, 11, 95), ("No sign of osteoporosis", GREEN, second, 95)])
    assert (got == want).all(), _differ(got, want)
    for (left, top, right, _), width in zip(rects, (wr, wl)):  # the text (from left + 5) whole, under the banner
        assert 0 <= left and left + 5 + width <= 1024 and top > 131
    assert rects[0][2] < rects[1][0]  # apart: the right knee's tag ends before the left knee's begins


def test_the_legend_wraps_on_a_narrow_film_and_lists_only_the_calls_on_it():
    """420 x 800 (the narrow single-leg films of the set are about 420 wide): size max(12, round(420 / 45)) = 12,
    step 16, two lines (rows 3, 19). Three knees, one of each call, listed suspected, borderline, not suspected
    whatever their order: orange from 6; neutral 12 after its end still ends within 420 - 6; green would not, so it
    starts the second legend row at 6 (rows 35 and 51, banner rows 0..(4 x 16 + 6 = 70))."""
    gray = np.full((800, 420), 0.5, dtype=np.float32)
    findings = [KneeFinding("L", (220, 300, 400, 400), "normal", 0.10, 0.36),  # green, right half: starts at 220
                KneeFinding("R", (20, 300, 200, 400), "osteoporosis", 0.70, 0.36),  # orange, left half: ends at 200
                KneeFinding("R", (20, 500, 200, 600), "osteoporosis", 0.37, 0.36)]  # neutral (0.01 above)
    got = annotate(gray, findings, "x")
    keys = ("Osteoporosis suspected", "Borderline: read as undecided", "No sign of osteoporosis")
    entry = [8 + 4 + _measure(words, 12)[0] for words in keys]
    second, third = 6 + entry[0] + 12, 6 + entry[0] + 12 + entry[1] + 12
    assert second + entry[1] <= 414 < third + entry[2]  # the premise: two fit on the first row, the third does not
    tags = ("L 10 % below threshold", "R 70 % above threshold", "R 37 % above threshold")
    (wl, hl), (wr, hr), (wn, hn) = (_measure(tag, 12) for tag in tags)
    want = _expected(np.full((800, 420), 127, np.uint8), 12, 2, 70, [("x", WHITE, 3), (RESEARCH_NOTICE, RED, 19)],
                     [((220, 300, 400, 400), GREEN), ((20, 300, 200, 400), ORANGE), ((20, 500, 200, 600), NEUTRAL)],
                     [(tags[0], GREEN, min(220, 420 - (wl + 6)), 300 - (hl + 3)),
                      (tags[1], ORANGE, max(0, 200 - (wr + 6)), 300 - (hr + 3)),
                      (tags[2], NEUTRAL, max(0, 200 - (wn + 6)), 500 - (hn + 3))],
                     [(keys[0], ORANGE, 6, 35), (keys[1], NEUTRAL, second, 35), (keys[2], GREEN, 6, 51)])
    assert (got == want).all(), _differ(got, want)
    # one call only: its one entry, the banner a row shorter (rows 0..54)
    lone = annotate(gray, findings[:1], "x")
    want = _expected(np.full((800, 420), 127, np.uint8), 12, 2, 54, [("x", WHITE, 3), (RESEARCH_NOTICE, RED, 19)],
                     [((220, 300, 400, 400), GREEN)], [(tags[0], GREEN, min(220, 420 - (wl + 6)), 300 - (hl + 3))],
                     [(keys[2], GREEN, 6, 35)])
    assert (lone == want).all(), _differ(lone, want)


def test_no_knee_no_legend():
    """A declined file (no finding): the banner is its lines only, 2 x 16 + 6 = rows 0..38 on a 300 x 200 film."""
    gray = np.full((200, 300), 0.5, dtype=np.float32)
    got = annotate(gray, [], "No result: not a knee radiograph")
    want = _expected(np.full((200, 300), 127, np.uint8), 12, 2, 38,
                     [("No result: not a knee radiograph", WHITE, 3), (RESEARCH_NOTICE, RED, 19)], [], [])
    assert (got == want).all(), _differ(got, want)


def test_the_legend_speaks_the_window_s_words_for_the_model_s_labels():
    """By hand: the headline's words for a firm call (text.headline), the borderline words without a side; a model
    whose positive label is "osteopenia" is "Osteopenia suspected" and its other label "Normal", as the window says."""
    knees = [KneeFinding("R", (0, 0, 9, 9), "normal", 0.10, 0.36), KneeFinding("L", (0, 0, 9, 9), "osteopenia", 0.70, 0.36),
             KneeFinding("", (0, 0, 9, 9), "normal", 0.34, 0.36), KneeFinding("R", (0, 0, 9, 9), "osteopenia", 0.90, 0.36)]
    assert legend(knees, "osteopenia") == [(ORANGE, "Osteopenia suspected"), (NEUTRAL, "Borderline: read as undecided"),
                                           (GREEN, "Normal")]
    assert legend(knees[:1], "osteoporosis") == [(GREEN, "No sign of osteoporosis")]
    assert legend([], "osteoporosis") == []


def test_a_long_banner_line_wraps_between_words_on_a_narrow_film():
    """419 x 1024 (osteoporosis_be0551187a39's size): size 12, room 419 - 12 = 407 px. The detail line ran past the
    film's edge ("... threshold of 36" for 36.0 %): it breaks after the last word that still fits, the rest on the
    next row. Rows: headline 3, detail 19 and 35, notice 51, legend 67; banner rows 0..(5 x 16 + 6 = 86)."""
    detail = "Probability of osteoporosis 35.9 % - just below the screening threshold of 36.0 %"
    words = detail.replace(" %", "%").split(" ")  # a number and its "%" stay together
    fits = max(n for n in range(1, len(words) + 1) if _measure(" ".join(words[:n]).replace("%", " %"), 12)[0] <= 407)
    first, rest = (" ".join(part).replace("%", " %") for part in (words[:fits], words[fits:]))
    assert rest and _measure(rest, 12)[0] <= 407  # the premise: two rows, the second whole
    gray = np.full((1024, 419), 0.5, dtype=np.float32)
    knee = KneeFinding("", (97, 125, 360, 388), "normal", 0.3589, 0.3597)
    got = annotate(gray, [knee], "Borderline (just below the threshold): read as undecided", detail)
    tag = "? 35.9 % below threshold"
    _, height = _measure(tag, 12)
    want = _expected(np.full((1024, 419), 127, np.uint8), 12, 2, 86,
                     [("Borderline (just below the threshold): read as undecided", WHITE, 3), (first, LIGHT, 19),
                      (rest, LIGHT, 35), (RESEARCH_NOTICE, RED, 51)], [((97, 125, 360, 388), NEUTRAL)],
                     [(tag, NEUTRAL, 97, max(87, 125 - (height + 3)))], [("Borderline: read as undecided", NEUTRAL, 6, 67)])
    assert (got == want).all(), _differ(got, want)


def test_a_number_keeps_its_percent_sign_when_a_line_wraps():
    """300 x 400 (size 12, room 288): "... 36.0 %" breaks before "36.0 %", never between "36.0" and "%". The line is
    built so that "... 36.0" fits and "... 36.0 %" does not: a break between words would leave "%" alone."""
    filler = "x"
    while _measure(f"{filler}x 36.0", 12)[0] <= 288:
        filler += "x"
    assert _measure(f"{filler} 36.0", 12)[0] <= 288 < _measure(f"{filler} 36.0 %", 12)[0]  # the premise
    gray = np.full((400, 300), 0.5, dtype=np.float32)
    got = annotate(gray, [], f"{filler} 36.0 %")
    want = _expected(np.full((400, 300), 127, np.uint8), 12, 2, 54,
                     [(filler, WHITE, 3), ("36.0 %", WHITE, 19), (RESEARCH_NOTICE, RED, 35)], [], [])
    assert (got == want).all(), _differ(got, want)


def test_a_row_holds_what_ends_exactly_at_its_margin_and_no_pixel_more():
    """Size 12 (margin 6 each side). The legend: orange from 6, green 12 after its end; a film exactly as wide as
    green's end + 6 keeps both on one row, a film a pixel narrower moves green to a second row (at 6). A banner line
    exactly as wide as the film - 12 stays one row; a pixel narrower film breaks it after its first word."""
    keys = ("Osteoporosis suspected", "No sign of osteoporosis")
    entry = [8 + 4 + _measure(words, 12)[0] for words in keys]
    second = 6 + entry[0] + 12
    knees = [KneeFinding("R", (10, 200, 60, 260), "osteoporosis", 0.70, 0.36),
             KneeFinding("L", (70, 200, 120, 260), "normal", 0.10, 0.36)]
    tags = ("R 70 % above threshold", "L 10 % below threshold")
    (wr, hr), (wl, hl) = (_measure(tag, 12) for tag in tags)
    for width, legend_rows in ((second + entry[1] + 6, [(keys[0], ORANGE, 6, 35), (keys[1], GREEN, second, 35)]),
                               (second + entry[1] + 5, [(keys[0], ORANGE, 6, 35), (keys[1], GREEN, 6, 51)])):
        got = annotate(np.full((400, width), 0.5, dtype=np.float32), knees, "x")
        bottom = 16 * (2 + len({top for *_, top in legend_rows})) + 6
        # both boxes lie left of the middle: each tag would end at its box's right edge, slid right to start at 0
        want = _expected(np.full((400, width), 127, np.uint8), 12, 2, bottom,
                         [("x", WHITE, 3), (RESEARCH_NOTICE, RED, 19)],
                         [((10, 200, 60, 260), ORANGE), ((70, 200, 120, 260), GREEN)],
                         [(tags[0], ORANGE, max(0, 60 - (wr + 6)), 200 - (hr + 3)),
                          (tags[1], GREEN, max(0, 120 - (wl + 6)), 200 - (hl + 3))], legend_rows)
        assert (got == want).all(), f"{width} px: {_differ(got, want)}"
    line = "No result: not a knee radiograph: looks like a chest radiograph"  # wider than the notice
    assert _measure(line, 12)[0] > _measure(RESEARCH_NOTICE, 12)[0]  # the premise: the notice stays one row
    for width, rows in ((_measure(line, 12)[0] + 12, [line]), (_measure(line, 12)[0] + 11, None)):
        got = annotate(np.full((400, width), 0.5, dtype=np.float32), [], line)
        if rows is None:  # one pixel short: the last word that fits ends the first row
            words = line.split(" ")
            fits = max(n for n in range(1, len(words)) if _measure(" ".join(words[:n]), 12)[0] <= width - 12)
            rows = [" ".join(words[:fits]), " ".join(words[fits:])]
        lines = [(row, WHITE, 3 + 16 * i) for i, row in enumerate(rows)] + [(RESEARCH_NOTICE, RED, 3 + 16 * len(rows))]
        want = _expected(np.full((400, width), 127, np.uint8), 12, 2, 16 * len(lines) + 6, lines, [], [])
        assert (got == want).all(), f"{width} px: {_differ(got, want)}"


def test_at_odd_text_sizes_the_legend_stands_on_whole_pixels():
    """Sizes 13 (a 585-px film) and 14 (630 px), where 2 x size / 3 and size / 3 are not whole: the swatch is
    size * 2 // 3 wide from left, its words size // 3 after it, its top size // 3 below the row's; step round(1.3 x
    size) = 17 and 18, the legend's row at size // 4 + 2 steps, the banner to 3 steps + size // 2."""
    keys = ("Osteoporosis suspected", "No sign of osteoporosis")
    knees = [KneeFinding("R", (40, 300, 200, 500), "osteoporosis", 0.70, 0.36),
             KneeFinding("L", (380, 300, 540, 500), "normal", 0.10, 0.36)]
    tags = ("R 70 % above threshold", "L 10 % below threshold")
    for side, size, step in ((585, 13, 17), (630, 14, 18)):
        got = annotate(np.full((side, side), 0.5, dtype=np.float32), knees, "x")
        swatch, space, margin = size * 2 // 3, size // 3, size // 2
        second = margin + swatch + space + _measure(keys[0], size)[0] + size
        top = size // 4 + 2 * step
        (wr, hr), (_, hl) = (_measure(tag, size) for tag in tags)
        want = _expected(np.full((side, side), 127, np.uint8), size, 2, 3 * step + size // 2,
                         [("x", WHITE, size // 4), (RESEARCH_NOTICE, RED, size // 4 + step)],
                         [((40, 300, 200, 500), ORANGE), ((380, 300, 540, 500), GREEN)],
                         [(tags[0], ORANGE, max(0, 200 - (wr + size // 2)), 300 - (hr + size // 4)),
                          (tags[1], GREEN, 380, 300 - (hl + size // 4))],
                         [(keys[0], ORANGE, margin, top), (keys[1], GREEN, second, top)])
        assert (got == want).all(), f"size {size}: {_differ(got, want)}"


def test_the_tag_and_legend_words_by_hand():
    """text.knee_mark: percent with as few decimals (0 to 3) as tell it from the threshold's, and its side;
    text.call_key: the borderline words without a side within 0.05 of the threshold, else the firm call's headline."""
    assert text.knee_mark(0.194, 0.3597) == "19 % below threshold"  # 19 vs 36 at no decimal
    assert text.knee_mark(0.3589, 0.3597) == "35.9 % below threshold"  # 36 vs 36, then 35.9 vs 36.0
    assert text.knee_mark(0.36004, 0.3597) == "36.00 % above threshold"  # 36.0 vs 36.0, then 36.00 vs 35.97
    assert text.knee_mark(0.36, 0.36) == "36 % at threshold"
    # the window's and the PDF's tags: the same percentage without the words (the box's colour gives the call)
    assert [text.knee_percent(p, 0.3597) for p in (0.194, 0.3589, 0.36004, 0.3597)] == ["19 %", "35.9 %", "36.00 %", "36 %"]
    assert text.knee_mark(0.3600001, 0.36) == "36.000 % above threshold"  # never told apart: 3 decimals, and "above"
    assert text.call_key("osteoporosis", "osteoporosis", 0.70, 0.36) == "Osteoporosis suspected"
    assert text.call_key("normal", "osteoporosis", 0.10, 0.36) == "No sign of osteoporosis"
    assert text.call_key("normal", "osteoporosis", 0.311, 0.36) == "Borderline: read as undecided"  # 0.049 below
    assert text.call_key("osteoporosis", "osteoporosis", 0.42, 0.36) == "Osteoporosis suspected"  # 0.06: not within

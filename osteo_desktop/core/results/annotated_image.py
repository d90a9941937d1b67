"""The annotated image of a result: the film with each knee's box and tag and a banner with the result burnt in.

Drawn with Pillow into an RGB copy of the film; :mod:`~osteo_desktop.core.results.dicom_objects` wraps it in a
Secondary Capture. No Qt here (core): colours come from :mod:`~osteo_desktop.core.results.palette`, words from
:mod:`~osteo_desktop.core.results.text`, as in the window.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from osteo_desktop.core.results import palette, text

RESEARCH_NOTICE = "RESEARCH USE, NOT FOR DIAGNOSIS"


@dataclass
class KneeFinding:
    side: str  # "R" or "L"
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in source pixels
    label: str
    probability: float
    threshold: float
    side_source: str | None = None  # where the side came from (core.model.knee_sides.SIDE_SOURCES), None: not known


def side_words(finding: KneeFinding) -> str:
    """The side with where it came from, as the window tags it: "R (film position)", "L (DICOM header)", "?"."""
    words = text.side_source_words(finding.side_source) if finding.side else None
    side = finding.side or "?"
    return f"{side} ({words})" if words else side


_Font = ImageFont.ImageFont | ImageFont.FreeTypeFont
_WHITE, _LIGHT, _RED = (255, 255, 255), (220, 220, 220), (255, 80, 80)  # headline, detail, research notice


def _font(size: int) -> _Font:
    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled scalable font (needs FreeType)
    except (TypeError, OSError):  # an older or FreeType-less Pillow: the fixed bitmap font, small but readable
        return ImageFont.load_default()


def legend(findings: list[KneeFinding], positive_label: str) -> list[tuple[str, str]]:
    """The legend's entries, (colour, words), one per call colour on the film: suspected, borderline, not suspected,
    in that order, only those present. The words are the window's (text.call_key); the colour is the box's."""
    keys: dict[str, str] = {}
    for finding in findings:
        keys.setdefault(_colour(finding), text.call_key(finding.label, positive_label, finding.probability,
                                                        finding.threshold))
    order = (palette.POSITIVE_COLOUR, palette.BORDERLINE_COLOUR, palette.NEGATIVE_COLOUR)
    return sorted(keys.items(), key=lambda item: order.index(item[0]))


def _colour(finding: KneeFinding) -> str:
    return palette.call_colour(finding.probability, finding.threshold, finding.probability >= finding.threshold)


def _legend_rows(draw: ImageDraw.ImageDraw, entries: list[tuple[str, str]], font: _Font, size: int,
                 width: int) -> list[list[tuple[int, str, str]]]:
    """The entries laid out left to right from size // 2, ``size`` apart, in rows that end by width - size // 2 (an
    entry wider than that alone on its row): each row a list of (left, colour, words). An entry is a swatch
    size * 2 // 3 wide, size // 3 of space, then its words."""
    rows: list[list[tuple[int, str, str]]] = [[]]
    left = size // 2
    for colour, words in entries:
        entry = size * 2 // 3 + size // 3 + int(draw.textbbox((0, 0), words, font=font)[2])
        if rows[-1] and left + entry > width - size // 2:  # not the row's first, and past its end: a new row
            rows.append([])
            left = size // 2
        rows[-1].append((left, colour, words))
        left += entry + size
    return [row for row in rows if row]  # no entries, no row


def _wrapped(draw: ImageDraw.ImageDraw, line: str, font: _Font, room: int) -> list[str]:
    """``line`` in rows at most ``room`` pixels wide, broken between words (greedy; a word wider than ``room`` keeps
    its own row; a number keeps its "%"). A narrow film cut the banner's lines at its edge: "... the screening
    threshold of 36" for 36.0 %."""
    rows: list[str] = []
    for word in re.split(r" (?!%)", line):
        if rows and draw.textbbox((0, 0), f"{rows[-1]} {word}", font=font)[2] <= room:
            rows[-1] = f"{rows[-1]} {word}"
        else:
            rows.append(word)
    return rows


def _banner(draw: ImageDraw.ImageDraw, width: int, size: int, font: _Font, lines: list[tuple[str, tuple]],
            legend_entries: list[tuple[str, str]]) -> int:
    """Draw the black banner across the top: the lines (text, fill) wrapped to the film, then the legend's rows, one
    row every round(1.3 x size) from size // 4. Returns the banner's last row."""
    rows = [(row, fill) for line, fill in lines if line for row in _wrapped(draw, line, font, width - size)]
    legend_rows = _legend_rows(draw, legend_entries, font, size, width)
    step = round(size * 1.3)
    bottom = step * (len(rows) + len(legend_rows)) + size // 2
    draw.rectangle((0, 0, width, bottom), fill=(0, 0, 0))
    for row, (line, fill) in enumerate(rows):
        draw.text((size // 2, size // 4 + row * step), line, fill=fill, font=font)
    for row, entries in enumerate(legend_rows, start=len(rows)):
        top = size // 4 + row * step
        for left, colour, words in entries:  # the swatch spans the words' capital height (about 0.3 to 1 x size)
            draw.rectangle((left, top + size // 3, left + size * 2 // 3, top + size), fill=colour)
            draw.text((left + size * 2 // 3 + size // 3, top), words, fill=colour, font=font)
    return bottom


def _tag(draw: ImageDraw.ImageDraw, finding: KneeFinding, colour: str, width: int, size: int, font: _Font,
         banner_bottom: int) -> None:
    """The knee's tag on a dark backdrop above its box, toward the film's middle, whole inside the image."""
    tag = f"{side_words(finding)} {text.knee_mark(finding.probability, finding.threshold)}"
    _, _, text_width, text_height = draw.textbbox((0, 0), tag, font=font)
    tag_width, tag_height = text_width + size // 2, text_height + size // 4
    # toward the film's middle, as in the window: film markers sit near its outer edges
    toward_middle = (finding.box[0] + finding.box[2]) / 2 < width / 2
    left = finding.box[2] - tag_width if toward_middle else finding.box[0]
    left = min(max(0, left), max(0, width - tag_width))  # whole, inside the image
    top = max(banner_bottom + 1, finding.box[1] - tag_height)  # above the box, or just under the banner
    draw.rectangle((left, top, left + tag_width, top + tag_height), fill=(0, 0, 0))
    draw.text((left + size // 4, top), tag, fill=colour, font=font)


def annotate(gray: np.ndarray, findings: list[KneeFinding], headline: str, detail: str = "", *,
             positive_label: str = "osteoporosis") -> np.ndarray:
    """Burn boxes, sides, the result, a legend of the box colours and the research notice into an RGB copy of
    ``gray`` (float in [0, 1]).

    Text scales with the film (about 1/45 of its shorter side, at least 12 px), so it stays readable when a viewer
    fits a 2000-pixel film to the screen; boxes and their tags take the window's call colours (palette), and each
    tag ("R (film position) 46 % above threshold", "? 35.9 % below threshold" when the side is unknown:
    text.knee_mark) sits on a dark backdrop above its box, off the bone and off the film's own markers inside the box.
    The banner's lines wrap between words to fit the film; its last rows are the legend (:func:`legend`), a swatch
    of each colour on the film with the window's words for it, so that the image reads on its own in a PACS viewer.
    """
    image = Image.fromarray((np.clip(gray, 0.0, 1.0) * 255).astype(np.uint8)).convert("RGB")
    draw = ImageDraw.Draw(image)
    size = max(12, round(min(image.size) / 45))
    font = _font(size)
    width = max(2, min(image.size) // 300)
    colours = [_colour(f) for f in findings]
    for finding, colour in zip(findings, colours):
        # a dark line just inside the coloured one: a light (borderline) box on white bone was hard to see
        draw.rectangle(finding.box, outline=(0, 0, 0), width=width + 2)
        draw.rectangle(finding.box, outline=colour, width=width)
    # The banner over the boxes (a box reaching the film's top stays under it), the tags last, below the banner.
    detail = detail.replace("\u2014", "-")  # Pillow's bundled font has no em dash (it would draw a box)
    lines = [(headline, _WHITE), (detail, _LIGHT), (RESEARCH_NOTICE, _RED)]
    banner_bottom = _banner(draw, image.width, size, font, lines, legend(findings, positive_label))
    for finding, colour in zip(findings, colours):
        _tag(draw, finding, colour, image.width, size, font, banner_bottom)
    return np.asarray(image, dtype=np.uint8)

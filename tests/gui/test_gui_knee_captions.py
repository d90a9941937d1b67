"""A knee box's caption tag sits outside the box where the image has room (above, else below), so it hides neither
what the model looked at nor the film's burnt-in side marker at the knee's outer top corner."""

from __future__ import annotations

import numpy as np
import pytest

from osteo_desktop.gui.image_view import ImageView

WIDTH, HEIGHT = 800, 600
GREEN = "#3cb878"


@pytest.fixture
def view(qtbot):
    widget = ImageView()
    widget.resize(400, 300)  # fitted: one image pixel is half a screen pixel, so a 16-px tag needs ~32 image px
    qtbot.addWidget(widget)
    widget.show()
    widget.set_image(np.full((HEIGHT, WIDTH), 0.5, np.float32))
    return widget


def inside_image(rect) -> bool:
    return rect.left() >= -1 and rect.top() >= -1 and rect.right() <= WIDTH + 1 and rect.bottom() <= HEIGHT + 1


def test_tags_sit_above_their_boxes_toward_the_films_middle(view):
    right_knee, left_knee = (100, 200, 300, 400), (500, 210, 700, 410)  # as on a film: R on the viewer's left
    view.set_marks([(right_knee, "R 0.41", GREEN), (left_knee, "L 0.43", GREEN)])
    tags = view.mark_caption_rects()
    assert len(tags) == 2
    for tag, (x0, y0, x1, y1) in zip(tags, (right_knee, left_knee)):
        assert inside_image(tag)
        assert tag.bottom() <= y0 + 1 and tag.top() < y0 - 10  # above the box, touching its line, not inside it
        assert x0 - 1 <= tag.left() and tag.right() <= x1 + 1  # over the box's width
    # the right knee's tag at its box's right (inner) edge, the left knee's at its box's left (inner) edge: away from
    # the outer top corners where films carry their R and L markers
    assert tags[0].right() == pytest.approx(right_knee[2], abs=2) and tags[0].left() > right_knee[0] + 20
    assert tags[1].left() == pytest.approx(left_knee[0], abs=2) and tags[1].right() < left_knee[2] - 20


def test_a_box_at_the_top_gets_its_tag_below(view):
    box = (100, 5, 300, 300)
    view.set_marks([(box, "R 0.41", GREEN)])
    (tag,) = view.mark_caption_rects()
    assert inside_image(tag)
    assert tag.top() >= box[3] - 1 and tag.bottom() > box[3] + 10


def test_a_box_filling_the_image_keeps_its_tag_inside(view):
    view.set_marks([((0, 0, WIDTH, HEIGHT), "R 0.41", GREEN)])
    (tag,) = view.mark_caption_rects()
    assert inside_image(tag) and tag.top() >= 0 and tag.height() < 60


def test_the_tag_moves_below_when_zooming_out_leaves_no_room_above(view):
    box = (100, 40, 300, 300)  # 40 image px above the box: room for the tag at the fitted zoom (~32 px needed)
    view.set_marks([(box, "R 0.41", GREEN)])
    assert view.mark_caption_rects()[0].bottom() <= box[1] + 1
    view.zoom_out(), view.zoom_out(), view.zoom_out()  # ~0.26 screen px per image px: the tag needs ~62 image px
    tag = view.mark_caption_rects()[0]
    assert tag.top() >= box[3] - 1 and inside_image(tag)


@pytest.mark.parametrize("caption", ["R (film position) 0.41", "L (DICOM header) 0.43", "R (film marker) 0.41"])
def test_a_tag_that_names_the_side_source_stays_on_the_image(view, caption):
    # The longest tags the app writes (text.knee_tag + probability), on knee boxes as wide as a film's knees.
    right_knee, left_knee = (20, 200, 300, 480), (500, 210, 780, 490)
    view.set_marks([(right_knee, caption, GREEN), (left_knee, caption, GREEN)])
    for tag, (x0, y0, x1, y1) in zip(view.mark_caption_rects(), (right_knee, left_knee)):
        assert inside_image(tag) and tag.bottom() <= y0 + 1  # above its box, whole
    view.set_marks([((0, 0, WIDTH, HEIGHT), caption, GREEN)])  # a preview tile's box fills its image
    (tag,) = view.mark_caption_rects()
    assert inside_image(tag)


def test_a_light_box_on_white_bone_has_a_dark_edge(qtbot):
    """A borderline box is light grey (#c8ccd2); on a white film it vanished. A dark line runs under it, so the
    screen shows dark pixels right beside the box's line (on a plain white image nothing else is dark there)."""
    widget = ImageView()
    widget.resize(400, 300)
    qtbot.addWidget(widget)
    widget.show()
    widget.set_image(np.ones((HEIGHT, WIDTH), np.float32))  # white
    widget.set_marks([((200, 150, 600, 450), "? 0.38", "#c8ccd2")])
    qtbot.waitExposed(widget)
    shot = widget.viewport().grab().toImage()
    y = shot.height() // 2  # a row through the box's middle, away from its tag
    # the box spans the middle half of the fitted image (x 200-600 of 800); look there, away from the view's margins
    middle = range(shot.width() // 8, 7 * shot.width() // 8)
    dark = [x for x in middle if shot.pixelColor(x, y).lightness() < 130]
    assert any(x < shot.width() // 2 for x in dark) and any(x > shot.width() // 2 for x in dark)  # both sides' edges
    assert len(dark) < 20  # only there, not a dark image

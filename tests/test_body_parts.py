"""Which header body parts agree with the kind of film the scope gate names, written out by hand (PS3.16 CID 4031)."""

from __future__ import annotations

import pytest

from osteo_desktop.core.reading.body_parts import contradicts, may_show_a_knee


@pytest.mark.parametrize("category,body_part,expected", [
    ("hand", "EXTREMITY", True),  # the shared distal tibia: filed as an extremity, the pixels' "hand" is a guess
    ("hand", "HAND", False), ("hand", " wrist ", False),  # case and spaces as headers write them
    ("hand", "", False),  # nothing said: the pixels' guess stands
    ("chest", "CHEST", False), ("chest", "HIP", True),
    ("dental-skull", "SKULL", False), ("dental-skull", "KNEE", True),
    ("other-msk", "HIP", False), ("other-msk", "CHEST", False),  # "another bone or joint" names no body part
    ("synthetic", "CHEST", False),
    ("chest", "CHEST PA", False), ("hand", "L HAND", False), ("hand", "WRIST_RIGHT", False),  # a side or view added
    ("hand", "LEFT KNEE", True),
])
def test_a_header_contradicts_a_named_kind_of_film_only_when_it_names_another_body_part(category, body_part, expected):
    assert contradicts(category, body_part) is expected


def test_knee_body_parts_include_the_limb_and_say_nothing_means_maybe():
    assert may_show_a_knee("") and may_show_a_knee("LOWER LIMB") and may_show_a_knee("left knee")
    assert not may_show_a_knee("CHEST") and not may_show_a_knee("HAND")

"""The "Against threshold" cell (history window, scan table) never contradicts the call beside it: a borderline file
(within 0.05 of the threshold) showed "0.050 above" with the exact threshold 0.3597 and a probability of 0.4093 (trial
23), which reads as just outside the margin. Every expected string is worked out here by hand."""

from __future__ import annotations

import pytest

from osteo_desktop.core.results import text


@pytest.mark.parametrize("probability, threshold, distance", [
    # 0.4093 - 0.3597 = 0.0496: borderline; three decimals round it to 0.050 (the margin), four keep it under.
    (0.4093, 0.3597, "0.0496 above"),
    # 0.3597 - 0.3098 = 0.0499: borderline below; 0.050 at three decimals, 0.0499 at four.
    (0.3098, 0.3597, "0.0499 below"),
    # 0.40996 - 0.36 = 0.04996: still 0.0500 at four decimals, 0.04996 at five.
    (0.40996, 0.36, "0.04996 above"),
    # 0.41 - 0.36 is 0.04999999999999999 in floating point, so the call is borderline (under 0.05): five decimals
    # still round it to 0.05000, so it is cut to 0.04999, never shown as the margin itself.
    (0.41, 0.36, "0.04999 above"),
    # 0.4597 - 0.3597 = 0.1000: not borderline, three decimals as ever.
    (0.4597, 0.3597, "0.100 above"),
    # 0.2597 vs 0.3597: 0.1000 below.
    (0.2597, 0.3597, "0.100 below"),
    # 0.02 from the threshold: three decimals already say it.
    (0.38, 0.36, "0.020 above"),
    (0.36, 0.36, "at the threshold"),
])
def test_the_distance_stays_on_the_calls_side_of_the_margin(probability, threshold, distance):
    assert text.threshold_distance(probability, threshold) == distance


def test_no_distance_contradicts_the_borderline_call():
    """Over probabilities every 0.0001 around a threshold of 0.3597 (and its float neighbours), the number shown is
    under 0.05 exactly when the call is borderline."""
    threshold = 0.3597
    for step in range(-700, 701):
        probability = threshold + step / 10000
        shown = text.threshold_distance(probability, threshold)
        if shown == "at the threshold":
            assert probability == threshold
            continue
        number = float(shown.split()[0])
        borderline = abs(probability - threshold) < 0.05
        assert (number < 0.05) == borderline, (probability, shown)

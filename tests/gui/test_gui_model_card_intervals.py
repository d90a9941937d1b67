"""The model card's intervals in the About-the-model document: a negative interval reads "-0.431 to -0.052", not
"-0.431–-0.052" (a dash between two minus signs reads as a subtraction); a positive one keeps its dash."""

from __future__ import annotations

import copy
from dataclasses import replace

from osteo_desktop.core.model.card import load_model_card
from osteo_desktop.core.paths import default_model_dir
from osteo_desktop.gui.about_dialog import model_summary


def test_negative_intervals_read_with_to_and_positive_ones_with_a_dash():
    card = load_model_card(default_model_dir())
    raw = copy.deepcopy(card.raw)
    metrics = raw.setdefault("knee_model", {}).setdefault("metrics", {})
    metrics["film_roc_auc"] = {"value": 0.831, "ci_low": 0.774, "ci_high": 0.880, "n": 228}
    metrics.setdefault("qus", {})["spearman_probability_vs_t_score"] = {
        "value": -0.245, "ci_low": -0.431, "ci_high": -0.052, "n": 101}
    html = model_summary(replace(card, raw=raw))
    assert "-0.245 (95% CI -0.431 to -0.052)" in html
    assert "0.831 (95% CI 0.774–0.880)" in html
    assert "–-" not in html

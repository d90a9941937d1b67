"""How spread out each candidate head's probabilities are, and its framing change on a scale-free footing.

A head whose logits are squeezed towards 0 moves less under any change, including the ones that matter; the card's
calibration rule keeps T = 1 whenever the ECE at T = 1 is under 0.05, which a nearly constant predictor at the base
rate meets. So beside the |dp| of the shipped calibration this prints |dp| at the fitted (minimum log loss) temperature,
the median |change of the logit| over the spread (standard deviation) of the knees' logits, and the interquartile
range of the per-film probabilities.

    OSTEO_SHARED_DIR=/work/shared python scripts/knee_framing_spread.py   (after knee_framing_study.py --stage study)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))


def main() -> int:
    import argparse
    import logging

    from knee_framing_study import load_all
    from osteo_desktop.training.knee_evaluation import calibrate
    from osteo_desktop.training.knee_framing_study import refit_out_of_fold, wide_bank
    from osteo_desktop.training.metrics import sigmoid

    logging.basicConfig(level=logging.WARNING)
    args = argparse.Namespace(cache_dir=REPO / ".cache" / "osteo-knee", copies=12, threads=2)
    knees, _, bank, framing = load_all(args)
    study = json.loads((REPO / "reports" / "knee_framing.json").read_text())
    wide = wide_bank(bank, framing)
    rule = study["wide+consistency(inner)"]["choices"]
    candidates = {"2.0.0": (bank, study["2.0.0"]["choices"])}
    for key in rule[0]["inner"]:
        candidates[f"wide, strength {float(key):g}"] = (wide, [dict(c, strength=float(key), **{"lambda": c["inner"][key]["lambda"]}) for c in rule])
    candidates["wide+consistency(inner)"] = (wide, rule)
    out = {}
    for name, (b, choices) in candidates.items():
        logits = refit_out_of_fold(b, framing, knees, choices)
        flip = {n: (logits["single"][n] + logits["mirrored"][n]) / 2 for n in logits["single"]}
        used, record = calibrate(knees, flip["plain"])
        fitted = record["fitted_temperature"]
        z = flip["plain"]
        dz = np.concatenate([np.abs(flip[n] - z) for n in ("scale_0.85", "scale_1.15")])
        row = {"T_used": used, "T_fitted": fitted, "logit_sd": float(np.std(z)),
               "median_dz_over_sd": float(np.median(dz) / np.std(z))}
        for label, t in (("used", used), ("fitted", fitted)):
            base = sigmoid(z / t)
            d = np.concatenate([np.abs(sigmoid(flip[n] / t) - base) for n in ("scale_0.85", "scale_1.15")])
            films: dict[str, float] = {}
            for k, p in zip(knees, base):
                films[k.film] = max(p, films.get(k.film, 0.0))
            p = np.array(list(films.values()))
            row[f"dp_median_T_{label}"] = float(np.median(d))
            row[f"dp_p90_T_{label}"] = float(np.percentile(d, 90))
            row[f"film_p_IQR_T_{label}"] = [float(np.percentile(p, 25)), float(np.percentile(p, 75))]
        out[name] = row
        print(name, {k: (round(v, 3) if isinstance(v, float) else [round(x, 3) for x in v]) for k, v in row.items()}, flush=True)
    (REPO / "reports" / "knee_framing_spread.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

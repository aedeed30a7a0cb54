"""Scores shared by the evaluation scripts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def patient_interval(
    gts: list[dict[str, Any]],
    preds: dict[str, dict[str, Any]],
    score: Callable[[list[dict[str, Any]], dict[str, dict[str, Any]]], dict[str, Any]],
    keys: Sequence[str],
    draws: int = 200,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """95 % interval of each figure in `keys` over other samples of patients like these (`gts`:
    one dataset's items, each naming its patient, as `score_dev.load_dev` gives them): the
    patients are drawn with replacement `draws` times and `score` (a SCORING.md scorer of
    `../shared/eval/score_dev.py`) is run on each draw, a patient drawn twice counting as two.

    What an independent check on as many other patients of the same dataset would see, if the
    out-of-fold figure is unbiased: the spread an issue's target has to be read against.
    """
    by_patient: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for g in gts:
        if g["file"] in preds:
            by_patient[str(g["patient"])].append(g)
    patients = sorted(by_patient)
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {key: [] for key in keys}
    for _ in range(draws):
        drawn_gts: list[dict[str, Any]] = []
        drawn_preds: dict[str, dict[str, Any]] = {}
        for k, patient in enumerate(rng.choice(len(patients), len(patients))):
            for g in by_patient[patients[patient]]:
                name = f"{g['file']}#{k}"
                drawn_gts.append({**g, "file": name, "patient": f"{patients[patient]}#{k}"})
                drawn_preds[name] = preds[g["file"]]
        figures = score(drawn_gts, drawn_preds)
        for key in keys:
            values[key].append(float(figures[key]))
    return {
        key: (float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5)))
        for key, v in values.items()
    }

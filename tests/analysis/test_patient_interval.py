"""The bootstrap-by-patient interval the benches print next to the out-of-fold figures."""

from __future__ import annotations

from typing import Any

from training.metrics import patient_interval


def _share_right(gts: list[dict[str, Any]], preds: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A toy scorer with score_dev's signature: share of items predicted right, and how many
    distinct patients and files it was handed."""
    right = [preds[g["file"]]["said"] == g["truth"] for g in gts]
    return {
        "right": sum(right) / len(right),
        "patients": len({g["patient"] for g in gts}),
        "files": len({g["file"] for g in gts}),
    }


def _items(right_per_patient: list[int]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    gts, preds = [], {}
    for p, n_right in enumerate(right_per_patient):
        for k in range(4):  # four recordings a patient
            name = f"p{p}_{k}"
            gts.append({"file": name, "patient": f"p{p}", "truth": True})
            preds[name] = {"said": k < n_right}
    return gts, preds


def test_all_right_has_no_spread() -> None:
    gts, preds = _items([4] * 10)
    assert patient_interval(gts, preds, _share_right, ["right"], draws=50) == {"right": (1.0, 1.0)}


def test_patients_drawn_twice_count_twice_and_files_stay_distinct() -> None:
    gts, preds = _items([4, 0, 2, 3, 1])
    spread = patient_interval(gts, preds, _share_right, ["patients", "files"], draws=30)
    assert spread["patients"] == (5.0, 5.0)  # every draw hands the scorer five patients
    assert spread["files"] == (20.0, 20.0)  # ... and all 20 of their recordings, renamed apart


def test_interval_brackets_the_figure_and_narrows_with_more_patients() -> None:
    few, few_preds = _items([4, 0, 2, 3, 1, 4, 0, 2, 3, 1])
    many, many_preds = _items([4, 0, 2, 3, 1] * 20)
    low_few, high_few = patient_interval(few, few_preds, _share_right, ["right"])["right"]
    low_many, high_many = patient_interval(many, many_preds, _share_right, ["right"])["right"]
    assert low_few < 0.5 < high_few and low_many < 0.5 < high_many  # the figure itself is 0.5
    assert high_many - low_many < 0.6 * (high_few - low_few)  # 10x the patients: ~1/3 the width


def test_items_without_a_prediction_are_left_out() -> None:
    gts, preds = _items([4, 4])
    gts.append({"file": "unscored", "patient": "p9", "truth": True})
    spread = patient_interval(gts, preds, _share_right, ["patients"], draws=20)
    assert spread["patients"] == (2.0, 2.0)

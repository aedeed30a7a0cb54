"""Reading the heart rate from the intervals an expert would have annotated
(stethoscope/heart/interval_trust.py).

The test marked "reads ../shared/data" uses CirCor 2022 recordings and skips only when that
folder is absent (it is present in CI).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from stethoscope.analysis import analyze_detailed
from stethoscope.audio import read_recording
from stethoscope.heart.interval_trust import (
    INTERVAL_FEATURE_NAMES,
    interval_features,
    trusted_rate_bpm,
)
from stethoscope.heart.model import MODEL_PATH, HeartModel, load_model
from stethoscope.simulate import simulate_heart
from training.train_heart import annotated_intervals, annotated_stretches

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.exists(), reason="reads ../shared/data (absent)")


def test_the_rate_comes_from_the_trusted_intervals() -> None:
    intervals = np.array([0.5, 0.5, 0.5, 0.65, 0.65, 0.65, 0.65, 0.65])
    trusted = np.array([0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert trusted_rate_bpm(intervals, trusted) == pytest.approx(120.0)
    assert trusted_rate_bpm(intervals, np.full(8, 0.5)) == pytest.approx(60.0 / 0.65)


def test_the_rate_averages_out_the_frame_grid() -> None:
    """At 250 bpm one 5 ms frame is 5 bpm: a median would pick one grid value."""
    intervals = np.array([0.24, 0.245] * 10)
    assert trusted_rate_bpm(intervals, np.full(20, 0.8)) == pytest.approx(60.0 / 0.2425)


def test_implausible_or_untrusted_intervals_give_no_rate() -> None:
    too_short, too_long = 60.0 / 260.0, 60.0 / 28.0
    assert trusted_rate_bpm(np.array([too_short, 0.5, too_long]), np.full(3, 0.9)) is None
    assert trusted_rate_bpm(np.array([0.5, 0.5, 0.5]), np.zeros(3)) is None
    rate = trusted_rate_bpm(np.array([too_short, 0.5, 0.5, too_long]), np.full(4, 0.9))
    assert rate == pytest.approx(120.0)


def test_features_describe_each_interval() -> None:
    detail = analyze_detailed(simulate_heart(10.0, 90.0, 4000.0, seed=7).samples, 4000.0, "heart")
    assert detail.heart is not None
    beats, envelope = detail.heart.beats, detail.heart.envelope
    x = interval_features(envelope, beats.s1_onset_s, beats.s1_peak_s, beats.s2_peak_s, 10.0)
    assert x.shape == (len(beats.s1_onset_s) - 1, len(INTERVAL_FEATURE_NAMES))
    named = dict(zip(INTERVAL_FEATURE_NAMES, x.T, strict=True))
    assert np.all(named["off_median"] < 0.1)  # a steady 90 bpm
    assert np.all((named["position"] >= 0) & (named["position"] < 1))
    assert np.all(named["height"] > 0.5)  # the sounds stand above the background
    assert interval_features(envelope, beats.s1_onset_s[:1], beats.s1_peak_s[:1],
                             beats.s2_peak_s[:1], 10.0).shape == (0, len(INTERVAL_FEATURE_NAMES))  # fmt: skip


def test_a_clean_stretch_outweighs_a_longer_noisy_one() -> None:
    """8 s of a clean heart at 100 bpm, then 14 s at 125 bpm under noise: the rate is the clean
    stretch's, where the longest steady run (the rate without the trust model) reads the noisy
    one. The confidence stays below one half (the envelope repeats at two periods)."""
    model = load_model()
    steady_only = dataclasses.replace(model, interval_trust=None)
    rated = 0
    for seed in range(1, 6):
        clean = simulate_heart(8.0, 100.0, 4000.0, snr_db=25.0, seed=seed).samples
        later = simulate_heart(14.0, 125.0, 4000.0, snr_db=25.0, seed=seed + 50).samples
        noise = np.random.default_rng(seed).normal(0.0, 0.5 * float(np.std(later)), len(later))
        x = np.concatenate([clean, later + noise])
        heart = analyze_detailed(x, 4000.0, "heart", heart_model=model).result.heart
        steady = analyze_detailed(x, 4000.0, "heart", heart_model=steady_only).result.heart
        assert heart is not None and steady is not None
        if heart.heart_rate_bpm is None:
            continue
        rated += 1
        assert abs(heart.heart_rate_bpm - 100.0) <= 3.0
        assert heart.heart_rate_confidence < 0.5
        assert steady.heart_rate_bpm is not None and steady.heart_rate_bpm > 115.0
    assert rated >= 3


def test_the_shipped_model_and_every_fold_carry_the_trust_model() -> None:
    raw = json.loads(MODEL_PATH.read_text())
    for part in [raw, raw["circor_only"], *raw["folds"]]:
        trust = HeartModel.from_dict(part)
        assert trust.interval_trust is not None
        assert trust.interval_trust.feature_names == INTERVAL_FEATURE_NAMES
        assert np.all(trust.interval_trust.scale >= 1e-3)


@needs_data
def test_held_out_recordings_trust_their_annotated_stretches_more() -> None:
    """Reads ../shared/data: on CirCor 2022 recordings, each analysed with the fold model that
    never saw its patient, the decoded intervals inside the annotated stretches get a higher
    mean trust than those outside."""
    raw = json.loads(MODEL_PATH.read_text())
    inside, outside = [], []
    for fold in raw["folds"]:
        model = HeartModel.from_dict(fold)
        assert model.interval_trust is not None
        for file in [f for f in fold["test_files"] if "circor2022" in f][::12]:
            rec = read_recording(DATA / file)
            heart = analyze_detailed(rec.samples, rec.sample_rate_hz, "heart", heart_model=model)
            assert heart.heart is not None
            b, duration_s = heart.heart.beats, len(rec.samples) / rec.sample_rate_hz
            x = interval_features(
                heart.heart.envelope, b.s1_onset_s, b.s1_peak_s, b.s2_peak_s, duration_s
            )
            if len(x) == 0:
                continue
            trust = model.interval_trust.probabilities(x)
            stretches = annotated_stretches(DATA / file.replace(".flac", ".tsv"))
            for p, within in zip(trust, annotated_intervals(stretches, b.s1_onset_s), strict=True):
                (inside if within else outside).append(p)
    assert len(inside) > 200 and len(outside) > 50
    assert np.mean(inside) > np.mean(outside) + 0.1

"""Traces of recordings (stethoscope.trace) in Firestore: drawn at analysis time from the signal
the pipeline has already decoded, stored next to the recording, served by the API.

`clinics/{c}/recordings/{r}/traces/{generation}` holds the RecordingTrace of one object generation
as gzipped JSON (~50-150 kB; a document may hold 1 MiB): the API never decodes a large file to draw
a page. A recording analysed before traces existed (or under an older TRACE_VERSION) gets its
trace from a bounded re-read — the object streamed and decimated block by block, as the analysis
does — and the result is stored for the next time. Firestore rules give clients no access to
`traces/` (default deny): the API serves them, audited. Erasure deletes them with the recording.
"""

from __future__ import annotations

import gzip
from typing import TYPE_CHECKING

from backend import paths
from backend.documents import RecordingTrace, StoredTrace, TraceEnvelope, TraceSpectrogram
from backend.recordings import now_utc

if TYPE_CHECKING:
    from google.cloud import firestore

    from stethoscope.sites import Kind
    from stethoscope.trace import Trace


def recording_trace(recording_id: str, kind: Kind, trace: Trace) -> RecordingTrace:
    """The API's form of a computed trace."""
    spec = trace.spectrogram
    return RecordingTrace(
        recording_id=recording_id,
        kind=kind,
        duration_s=trace.duration_s,
        sample_rate_hz=trace.sample_rate_hz,
        peak_full_scale=trace.peak,
        envelope=TraceEnvelope(
            bin_s=trace.envelope.bin_s, min=trace.envelope.min, max=trace.envelope.max
        ),
        spectrogram=None
        if spec is None
        else TraceSpectrogram(
            frame_s=spec.frame_s,
            freqs_hz=spec.freqs_hz,
            db_min=spec.db_min,
            db_max=spec.db_max,
            db=spec.db_base64,
        ),
    )


def store_trace(
    db: firestore.Client, clinic_id: str, recording_id: str, generation: int, trace: RecordingTrace
) -> bytes:
    """Store the trace of one object generation; returns it as stored (gzipped JSON)."""
    from stethoscope.trace import TRACE_VERSION

    data = gzip.compress(trace.model_dump_json(by_alias=True).encode(), compresslevel=6)
    stored = StoredTrace(
        generation=str(generation), trace_version=TRACE_VERSION, created_at=now_utc(), data=data
    )
    paths.trace(db, clinic_id, recording_id, generation).set(stored.to_firestore())
    return data


def load_trace_gzip(
    db: firestore.Client, clinic_id: str, recording_id: str, generation: int
) -> bytes | None:
    """The stored trace of this generation as gzipped JSON (served as it is to clients that
    accept gzip), or None (none stored, or of an older TRACE_VERSION)."""
    from stethoscope.trace import TRACE_VERSION

    snapshot = paths.trace(db, clinic_id, recording_id, generation).get()
    if not snapshot.exists:
        return None
    stored = StoredTrace.model_validate(snapshot.to_dict())
    return stored.data if stored.trace_version == TRACE_VERSION else None


def read_and_trace(
    bucket: str, name: str, generation: int, recording_id: str, kind: Kind
) -> RecordingTrace:
    """Draw the trace from the stored object: streamed and decimated to the analysis rate while
    decoding (memory grows with the analysis rate; at most 10 minutes are accepted). Raises
    google.api_core NotFound if the object is gone, AnalysisInputError if it cannot be decoded."""
    from backend import blobs
    from stethoscope.analysis import analysis_rate_hz
    from stethoscope.audio import read_recording
    from stethoscope.trace import compute_trace

    with blobs.open_for_reading(bucket, name, generation) as reader:
        audio = read_recording(reader, target_rate_hz=analysis_rate_hz(kind))
    return recording_trace(recording_id, kind, compute_trace(audio.samples, audio.sample_rate_hz))


def delete_traces(recording: firestore.DocumentReference) -> int:
    """Every stored trace of a recording (erasure); the number deleted."""
    deleted = 0
    for snapshot in paths.traces_of(recording).stream():
        snapshot.reference.delete()
        deleted += 1
    return deleted

"""FHIR R4 export of one analysed auscultation: a Bundle of Patient, Media and Observations.

Heart rate (LOINC 8867-4) and respiratory rate (LOINC 9279-1) follow the vital-signs profile
(UCUM "/min"); murmur, wheeze and crackles are exam findings coded in SNOMED CT with a boolean
value (present / absent), left out when the analysis cannot tell. Observations are `preliminary`:
they come from an algorithm and await a clinician. Every Observation is `derivedFrom` the Media
resource that points to the audio, and carries the analysis version and quality in a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stethoscope.result import AnalysisResult

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MEDIA_TYPE = "http://terminology.hl7.org/CodeSystem/media-type"
FINDINGS = {
    "murmur": ("88610006", "Heart murmur"),
    "wheeze": ("56018004", "Wheezing"),
    "crackle": ("48409008", "Respiratory crackles"),
}


@dataclass(frozen=True)
class RecordingContext:
    """Who and what the recording is about (from the recording document)."""

    clinic_id: str
    recording_id: str
    patient_id: str
    recorded_at: datetime
    site: str
    device_id: str
    audio_url: str
    size_bytes: int | None = None
    patient_sex: str | None = None
    patient_birth_year: int | None = None
    identifier_system: str = "urn:stethoscope"


def fhir_bundle(result: AnalysisResult, context: RecordingContext) -> dict[str, Any]:
    """The Bundle (type `collection`) as plain JSON."""
    patient_ref = f"Patient/{context.patient_id}"
    media_id = f"{context.recording_id}-audio"
    when = context.recorded_at.isoformat()
    note = [
        {
            "text": f"Automated analysis {result.version}; quality {result.quality.score:.2f}"
            + (
                " (usable)"
                if result.quality.usable
                else " (NOT usable: " + ", ".join(result.quality.reasons) + ")"
            )
        }
    ]
    common = {
        "status": "preliminary",
        "subject": {"reference": patient_ref},
        "effectiveDateTime": when,
        "derivedFrom": [{"reference": f"Media/{media_id}"}],
        "note": note,
    }
    resources: list[dict[str, Any]] = [
        _patient(context),
        _media(result, context, media_id, patient_ref),
    ]
    if result.heart is not None:
        if result.heart.heart_rate_bpm is not None:
            resources.append(
                _rate(
                    context,
                    "heart-rate",
                    "8867-4",
                    "Heart rate",
                    result.heart.heart_rate_bpm,
                    common,
                )
            )
        if result.heart.murmur.present is not None:
            resources.append(_finding(context, "murmur", result.heart.murmur.present, common))
    if result.lung is not None:
        lung = result.lung
        if lung.respiratory_rate_bpm is not None:
            resources.append(
                _rate(
                    context,
                    "respiratory-rate",
                    "9279-1",
                    "Respiratory rate",
                    lung.respiratory_rate_bpm,
                    common,
                )
            )
        for name, present in (("wheeze", lung.wheeze_present), ("crackle", lung.crackle_present)):
            if present is not None:
                resources.append(_finding(context, name, present, common))
    return {
        "resourceType": "Bundle",
        "id": f"{context.recording_id}-{result.version}",
        "type": "collection",
        "timestamp": when,
        "entry": [
            {"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r} for r in resources
        ],
    }


def _patient(context: RecordingContext) -> dict[str, Any]:
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": context.patient_id,
        "identifier": [
            {
                "system": f"{context.identifier_system}/{context.clinic_id}/patients",
                "value": context.patient_id,
            }
        ],
    }
    if context.patient_sex:
        patient["gender"] = {"female": "female", "male": "male", "other": "other"}.get(
            context.patient_sex, "unknown"
        )
    if context.patient_birth_year:
        patient["birthDate"] = str(context.patient_birth_year)
    return patient


def _media(
    result: AnalysisResult, context: RecordingContext, media_id: str, patient_ref: str
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "contentType": "audio/wav",
        "url": context.audio_url,
        "title": f"{context.site} auscultation",
    }
    if context.size_bytes:
        content["size"] = context.size_bytes
    return {
        "resourceType": "Media",
        "id": media_id,
        "status": "completed",
        "type": {"coding": [{"system": MEDIA_TYPE, "code": "audio", "display": "Audio"}]},
        "subject": {"reference": patient_ref},
        "createdDateTime": context.recorded_at.isoformat(),
        "bodySite": {"text": context.site},
        "deviceName": context.device_id,
        "duration": round(result.duration_s, 3),
        "content": content,
    }


def _rate(
    context: RecordingContext,
    slug: str,
    loinc: str,
    display: str,
    value: float,
    common: dict[str, Any],
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"{context.recording_id}-{slug}",
        "category": [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}], "text": display},
        "valueQuantity": {"value": round(value, 1), "unit": "/min", "system": UCUM, "code": "/min"},
        **common,
    }


def _finding(
    context: RecordingContext, name: str, present: bool, common: dict[str, Any]
) -> dict[str, Any]:
    code, display = FINDINGS[name]
    return {
        "resourceType": "Observation",
        "id": f"{context.recording_id}-{name}",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "exam", "display": "Exam"}]}
        ],
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
        "valueBoolean": present,
        "bodySite": {"text": context.site},
        **common,
    }

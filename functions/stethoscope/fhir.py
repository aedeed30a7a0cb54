"""FHIR R4 export of analysed auscultations: Patient, Media, Observations and a DiagnosticReport.

Heart rate (LOINC 8867-4) and respiratory rate (LOINC 9279-1) follow the vital-signs profile
(UCUM "/min"); murmur, wheeze and crackles are exam findings coded in SNOMED CT with a boolean
value (present / absent), left out when the analysis cannot tell. Observations are `preliminary`:
they come from an algorithm and await a clinician. Every Observation is `derivedFrom` the Media
resource that points to the audio, and carries the analysis version and quality in a note. A
DiagnosticReport (LOINC 29545-1 "Physical findings") groups one recording's Observations and
Media; a patient's export is the Patient plus one such report per analysed recording.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stethoscope.result import AnalysisResult

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MEDIA_TYPE = "http://terminology.hl7.org/CodeSystem/media-type"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
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
    patient_mrn: str | None = None
    patient_name: str | None = None
    identifier_system: str = "urn:stethoscope"


PHYSICAL_FINDINGS = ("29545-1", "Physical findings")
_NOT_IN_FHIR_IDS = re.compile(r"[^A-Za-z0-9.-]")


def fhir_id(value: str) -> str:
    """A FHIR resource id ([A-Za-z0-9-.]{1,64}) from one of ours (`rec_…`, `pat_…` hold `_`)."""
    return _NOT_IN_FHIR_IDS.sub("-", value)[:64]


def fhir_bundle(result: AnalysisResult, context: RecordingContext) -> dict[str, Any]:
    """The Bundle (type `collection`) of one recording, as plain JSON."""
    resources = recording_resources(result, context)
    return {
        "resourceType": "Bundle",
        "id": fhir_id(f"{context.recording_id}-{result.version}"),
        "type": "collection",
        "timestamp": context.recorded_at.isoformat(),
        "entry": [
            {"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r} for r in resources
        ],
    }


def recording_resources(result: AnalysisResult, context: RecordingContext) -> list[dict[str, Any]]:
    """Patient, Media, the Observations and the DiagnosticReport that groups them."""
    patient_ref = f"Patient/{fhir_id(context.patient_id)}"
    media_id = fhir_id(f"{context.recording_id}-audio")
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
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    report = _diagnostic_report(
        fhir_id(f"{context.recording_id}-report"),
        f"{result.kind.capitalize()} auscultation, {context.site}",
        patient_ref,
        when,
        observations,
        note[0]["text"],
    )
    report["media"] = [{"link": {"reference": f"Media/{media_id}"}}]
    resources.append(report)
    return resources


def _diagnostic_report(
    report_id: str,
    text: str,
    patient_ref: str,
    when: str,
    observations: list[dict[str, Any]],
    conclusion: str,
) -> dict[str, Any]:
    """The DiagnosticReport (LOINC "Physical findings") that groups a recording's or an exam's
    Observations."""
    return {
        "resourceType": "DiagnosticReport",
        "id": report_id,
        "status": "preliminary",
        "code": {
            "coding": [
                {"system": LOINC, "code": PHYSICAL_FINDINGS[0], "display": PHYSICAL_FINDINGS[1]}
            ],
            "text": text,
        },
        "subject": {"reference": patient_ref},
        "effectiveDateTime": when,
        "result": [{"reference": f"Observation/{o['id']}"} for o in observations],
        "conclusion": conclusion,
    }


def _patient(context: RecordingContext) -> dict[str, Any]:
    return patient_resource(
        context.clinic_id,
        context.patient_id,
        context.patient_sex,
        context.patient_birth_year,
        context.patient_mrn,
        context.patient_name,
        context.identifier_system,
    )


def patient_resource(
    clinic_id: str,
    patient_id: str,
    sex: str | None = None,
    birth_year: int | None = None,
    mrn: str | None = None,
    name: str | None = None,
    identifier_system: str = "urn:stethoscope",
) -> dict[str, Any]:
    """The Patient: our id, the clinic's medical record number (identifier type MR), name."""
    identifiers: list[dict[str, Any]] = [
        {"system": f"{identifier_system}/{clinic_id}/patients", "value": patient_id}
    ]
    if mrn:
        identifiers.append(
            {
                "type": {
                    "coding": [
                        {
                            "system": IDENTIFIER_TYPE,
                            "code": "MR",
                            "display": "Medical record number",
                        }
                    ]
                },
                "system": f"{identifier_system}/{clinic_id}/mrn",
                "value": mrn,
            }
        )
    patient: dict[str, Any] = {"resourceType": "Patient", "id": fhir_id(patient_id),
                               "identifier": identifiers}  # fmt: skip
    if name:
        patient["name"] = [{"text": name}]
    if sex:
        patient["gender"] = {"female": "female", "male": "male", "other": "other"}.get(
            sex, "unknown"
        )
    if birth_year:
        patient["birthDate"] = str(birth_year)
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
        "id": fhir_id(f"{context.recording_id}-{slug}"),
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
        "id": fhir_id(f"{context.recording_id}-{name}"),
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "exam", "display": "Exam"}]}
        ],
        "code": {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
        "valueBoolean": present,
        "bodySite": {"text": context.site},
        **common,
    }


def exam_bundle(
    *,
    clinic_id: str,
    exam_id: str,
    patient_id: str,
    kind: str,
    assessed_at: str,
    assessment: dict[str, Any],
    analysis_version: str | None,
    patient_sex: str | None = None,
    patient_birth_year: int | None = None,
    patient_mrn: str | None = None,
    patient_name: str | None = None,
    report_url: str | None = None,
) -> dict[str, Any]:
    """One exam as a Bundle: the Patient, an Observation per patient-level finding (murmur,
    wheeze, crackle: present/absent, with the sites where heard; heart and respiratory rate) and
    the DiagnosticReport that concludes it. Unknown findings are left out (no decision)."""
    patient_ref = f"Patient/{fhir_id(patient_id)}"
    context = RecordingContext(
        clinic_id=clinic_id,
        recording_id=exam_id,
        patient_id=patient_id,
        recorded_at=datetime.fromisoformat(assessed_at),
        site="exam",
        device_id="-",
        audio_url="-",
    )
    note = [{"text": f"Automated exam assessment {analysis_version or ''}; decision support, "
                     "not a diagnosis"}]  # fmt: skip
    common = {"status": "preliminary", "subject": {"reference": patient_ref},
              "effectiveDateTime": assessed_at, "note": note}  # fmt: skip
    observations: list[dict[str, Any]] = []
    for name in ("murmur", "wheeze", "crackle"):
        verdict = assessment.get(name)
        if verdict in ("present", "absent"):
            finding = _finding(context, name, verdict == "present", common)
            sites = assessment.get(f"{name}Sites") or []
            finding["bodySite"] = {"text": ", ".join(sites) if sites else "all sites examined"}
            observations.append(finding)
    for key, slug, loinc, display in (
        ("heartRateBpm", "heart-rate", "8867-4", "Heart rate"),
        ("respiratoryRateBpm", "respiratory-rate", "9279-1", "Respiratory rate"),
    ):
        if assessment.get(key) is not None:
            observations.append(
                _rate(context, slug, loinc, display, float(assessment[key]), common)
            )
    report = _diagnostic_report(
        fhir_id(f"{exam_id}-report"),
        f"{kind.capitalize()} auscultation exam",
        patient_ref,
        assessed_at,
        observations,
        exam_conclusion(assessment),
    )
    if report_url:
        report["presentedForm"] = [
            {"contentType": "application/pdf", "url": report_url, "title": "Exam report (PDF)"}
        ]
    patient = patient_resource(
        clinic_id, patient_id, patient_sex, patient_birth_year, patient_mrn, patient_name
    )
    resources = [patient, *observations, report]
    return {
        "resourceType": "Bundle",
        "id": fhir_id(f"{exam_id}-{analysis_version or 'exam'}"),
        "type": "collection",
        "timestamp": assessed_at,
        "entry": [
            {"fullUrl": f"urn:uuid:{r['resourceType']}-{r['id']}", "resource": r} for r in resources
        ],
    }


def exam_conclusion(assessment: dict[str, Any]) -> str:
    """The assessment (as stored: camelCase keys) in one sentence for a clinician."""
    parts = []
    for name in ("murmur", "wheeze", "crackle"):
        verdict = assessment.get(name)
        if verdict is None:
            continue
        sites = assessment.get(f"{name}Sites") or []
        where = f" at {', '.join(sites)}" if verdict == "present" and sites else ""
        parts.append(f"{name} {verdict}{where}")
    if assessment.get("mostAudibleSite"):
        timing = [assessment.get("murmurTiming"), assessment.get("systolicTiming")]
        how = ", ".join(t for t in timing if t)
        parts.append(f"loudest at {assessment['mostAudibleSite']}" + (f" ({how})" if how else ""))
    for key, label in (("heartRateBpm", "heart rate"), ("respiratoryRateBpm", "resp. rate")):
        if assessment.get(key) is not None:
            parts.append(f"{label} {float(assessment[key]):.0f}/min")
    if assessment.get("rhythm"):
        parts.append(f"rhythm {assessment['rhythm']}")
    return "; ".join(parts) or "no finding could be made"

"""Patients: pseudonymous labels, created by clinicians and admins."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends

from backend.api.auth import CLINICAL, ClinicAccess
from backend.api.problems import Problem
from backend.api.schemas import PatientIn, PatientOut
from backend.clients import firestore_client
from backend.documents import Patient
from backend.recordings import now_utc

router = APIRouter(tags=["patients"])


@router.post(
    "/clinics/{clinic_id}/patients",
    response_model=PatientOut,
    status_code=201,
    responses={code: {"model": Problem} for code in (401, 403, 404, 422)},
)
def create_patient(
    body: PatientIn, access: Annotated[ClinicAccess, Depends(CLINICAL)]
) -> PatientOut:
    """Add a patient to the clinic (a label the clinic understands — never a name)."""
    patient = Patient(
        label=body.label,
        birth_year=body.birth_year,
        sex=body.sex,
        created_at=now_utc(),
        created_by=access.caller.uid,
    )
    patient_id = f"pat_{secrets.token_hex(8)}"
    patients = (
        firestore_client().collection("clinics").document(access.clinic_id).collection("patients")
    )
    patients.document(patient_id).create(patient.to_firestore())
    return PatientOut(id=patient_id, **patient.model_dump())

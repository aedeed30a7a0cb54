"""Day one for an operator: create a clinic and its first admin with server credentials.

    python -m backend.admin create-clinic --clinic CLINIC_ID --name "Clinic name" \\
        --admin-email admin@clinic.example [--password …]   # --password creates the account
    python -m backend.admin add-member --clinic CLINIC_ID --email someone@… --role clinician

Runs wherever Application Default Credentials reach the project (`gcloud auth
application-default login`, or a service account), or against the emulators when
FIRESTORE_EMULATOR_HOST / FIREBASE_AUTH_EMULATOR_HOST are set (`make dev` seeds this way).
Idempotent: running it again changes nothing that is already so.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from backend import paths
from backend.clients import firestore_client, init_firebase_admin
from backend.documents import Clinic, Member, Role, is_valid_id
from backend.recordings import now_utc


@dataclass(frozen=True)
class Account:
    uid: str
    email: str
    created: bool


def ensure_account(email: str, password: str | None) -> Account:
    """The Firebase Auth user with this email; created when a password is given."""
    from firebase_admin import auth

    try:
        user = auth.get_user_by_email(email)
        return Account(user.uid, email, False)
    except auth.UserNotFoundError:
        if password is None:
            raise SystemExit(
                f"no account for {email}: pass --password to create it, or let the person sign "
                "up first (the sign-in page or `steth-upload login` after an admin invites them)"
            ) from None
        user = auth.create_user(email=email, password=password, email_verified=True)
        return Account(user.uid, email, True)


def create_clinic(clinic_id: str, name: str, admin: Account) -> None:
    """clinics/{id} and its first admin (kept as they are if they exist)."""
    if not is_valid_id(clinic_id):
        raise SystemExit(f"{clinic_id!r}: a clinic id is 1-128 of A-Z a-z 0-9 _ -")
    db = firestore_client()
    clinic = paths.clinic(db, clinic_id)
    if not clinic.get().exists:
        clinic.set(Clinic(name=name, created_at=now_utc()).to_firestore())
    add_member(clinic_id, admin, "admin")


def add_member(clinic_id: str, account: Account, role: Role) -> None:
    paths.member(firestore_client(), clinic_id, account.uid).set(
        Member(
            role=role,
            uid=account.uid,
            email=account.email,
            added_at=now_utc(),
            added_by="operator",
        ).to_firestore()
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.admin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-clinic", help="a clinic and its first admin")
    create.add_argument("--clinic", required=True, help="clinic id, e.g. st-marys-cardiology")
    create.add_argument("--name", required=True)
    create.add_argument("--admin-email", required=True)
    create.add_argument("--password", help="create the admin's account with this password")
    member = commands.add_parser("add-member", help="add an existing (or new) user to a clinic")
    member.add_argument("--clinic", required=True)
    member.add_argument("--email", required=True)
    member.add_argument("--role", choices=("admin", "clinician", "uploader"), required=True)
    member.add_argument("--password", help="create the account with this password")
    args = parser.parse_args(argv)
    init_firebase_admin()
    if args.command == "create-clinic":
        account = ensure_account(args.admin_email, args.password)
        create_clinic(args.clinic, args.name, account)
        print(
            f"clinic {args.clinic} ready; admin {account.email} ({account.uid})"
            + (" created" if account.created else "")
        )
    else:
        account = ensure_account(args.email, args.password)
        add_member(args.clinic, account, args.role)
        print(f"{account.email} ({account.uid}) is {args.role} of {args.clinic}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

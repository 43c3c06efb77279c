"""Create the first Compliance officer: a staff user with a password and a TOTP authenticator."""

from __future__ import annotations

import getpass
import secrets
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from pandorakart_wa.backoffice.admin.accounts import StaffAccountError, staff_user_create, totp_device_ensure
from pandorakart_wa.backoffice.admin.site import qr_ascii, totp_uri
from pandorakart_wa.core.audit import COMMAND, acting_as, system_user
from pandorakart_wa.core.roles import COMPLIANCE_OFFICER


class Command(BaseCommand):
    help = (
        "Create a Compliance officer (staff, in the 'Compliance officer' group, not a superuser unless "
        "--superuser) with a TOTP authenticator; prints the password when generated and the otpauth:// URI."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", required=True)
        parser.add_argument("--superuser", action="store_true", help="Also make the user a superuser.")
        parser.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="Do not prompt for a password: generate one and print it.",
        )
        parser.add_argument("--no-qr", action="store_true", help="Do not draw the QR code in the terminal.")

    def handle(self, *args: Any, **options: Any) -> None:
        generated = not (options["interactive"] and sys.stdin.isatty())
        password = secrets.token_urlsafe(18) if generated else self._prompt_password()
        with acting_as(system_user(COMMAND)):
            try:
                user = staff_user_create(
                    username=options["username"],
                    email=options["email"],
                    password=password,
                    role=COMPLIANCE_OFFICER,
                    superuser=options["superuser"],
                )
            except ValidationError as exc:
                raise CommandError("Password refused: " + " ".join(exc.messages)) from exc
            except StaffAccountError as exc:
                raise CommandError(str(exc)) from exc
            device = totp_device_ensure(user=user)
        uri = totp_uri(device)
        kind = "superuser and Compliance officer" if options["superuser"] else "Compliance officer"
        self.stdout.write(f"Created {kind} {user.username} <{user.email}>.")
        if generated:
            self.stdout.write(f"Password: {password}")
        self.stdout.write("Add this authenticator to a TOTP app (scan the QR code or paste the URI):")
        self.stdout.write(f"otpauth URI: {uri}")
        if not options["no_qr"]:
            self.stdout.write(qr_ascii(uri))
        self.stdout.write("Sign in at /admin/ with the username, the password and the app's 6-digit code.")

    def _prompt_password(self) -> str:
        for _ in range(3):
            first = getpass.getpass("Password: ")
            if first and first == getpass.getpass("Password (again): "):
                return first
            self.stderr.write("The passwords are empty or differ; try again.")
        raise CommandError("No password given.")

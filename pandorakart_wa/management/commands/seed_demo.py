"""Demo data for the run command: idempotent, safe to run on every start (API.md, Operations)."""

from __future__ import annotations

import importlib
import os
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from pandorakart_wa.backoffice.admin.accounts import totp_device_ensure
from pandorakart_wa.backoffice.admin.site import totp_uri
from pandorakart_wa.core.api.keys import api_key_ensure
from pandorakart_wa.core.audit import COMMAND, acting_as, system_user

# Each app seeds its own demo data in `<app>/seed.py: seed_demo(stdout)`, lower apps first.
APP_SEEDS = ("profile.seed", "consent.seed", "messaging.seed", "complaints.seed")


class Command(BaseCommand):
    help = "Create the demo data (idempotent): notices, profile, policy, templates, a staff login."

    def handle(self, *args: Any, **options: Any) -> None:
        with acting_as(system_user(COMMAND)):
            for module_name in APP_SEEDS:
                try:
                    module = importlib.import_module(module_name)
                except ModuleNotFoundError as exc:
                    if exc.name != module_name:
                        raise
                    continue
                with transaction.atomic():
                    module.seed_demo(self.stdout)
            self._seed_logins()

    def _seed_logins(self) -> None:
        password = os.environ.get("DEMO_ADMIN_PASSWORD")
        if password:
            User = get_user_model()
            user, created = User.objects.get_or_create(
                username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@pandorakart.com"}
            )
            if created or not user.check_password(password):
                user.set_password(password)
                user.save()
            self.stdout.write(f"Admin login: admin / {password}")
            self._seed_admin_totp(user)
        demo_key = os.environ.get("DEMO_API_KEY")
        if demo_key:
            api_key_ensure(name="demo-storefront", key=demo_key)
            self.stdout.write(f"Storefront API key: {demo_key}")

    def _seed_admin_totp(self, user: Any) -> None:
        """The admin signs in with a TOTP code too: a device with DEMO_ADMIN_TOTP_KEY's key (the
        run command generates it into .env), so the same authenticator entry works every start."""
        from django_otp.oath import totp


        device = totp_device_ensure(user=user, key=os.environ.get("DEMO_ADMIN_TOTP_KEY") or None)
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
        self.stdout.write(f"Admin authenticator (add it to a TOTP app): {totp_uri(device)}")
        self.stdout.write(
            f"Admin code right now: {code:0{device.digits}d} (valid about 30 s). A fresh code any time: "
            f".venv/bin/python -c \"from django_otp.oath import totp; print('%06d' % totp(bytes.fromhex('{device.key}')))\""
        )

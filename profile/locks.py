"""A lease lock on a database row that works on PostgreSQL and SQLite alike.

Why not `pg_try_advisory_lock` or `select_for_update(nowait=True)`: SQLite (the run command's
database) has neither (Django silently ignores select_for_update there), and both hold a
session or transaction open across Meta's HTTP calls, which on SQLite would block every other
writer. A lease is taken and released by single conditional UPDATEs that commit at once; a
holder that crashes without releasing loses the lease when `held_until` passes.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from profile.models import JobLock


def lease_acquire(*, name: str, ttl: timedelta) -> str | None:
    """Take the lease `name` for `ttl`; return the holder token, or None when someone holds it."""
    with contextlib.suppress(IntegrityError), transaction.atomic():
        JobLock.objects.get_or_create(name=name)
    token = secrets.token_hex(8)
    now = timezone.now()
    with transaction.atomic():
        taken = JobLock.objects.filter(Q(held_until__isnull=True) | Q(held_until__lte=now), name=name).update(
            holder=token, held_until=now + ttl
        )
    return token if taken else None


def lease_release(*, name: str, token: str) -> None:
    """Give the lease back, unless it ran out and someone else holds it now."""
    with transaction.atomic():
        JobLock.objects.filter(name=name, holder=token).update(holder="", held_until=None)


@contextlib.contextmanager
def lease(*, name: str, ttl: timedelta) -> Iterator[bool]:
    """`with lease(name=..., ttl=...) as held:`: `held` is False when another holder has it."""
    token = lease_acquire(name=name, ttl=ttl)
    try:
        yield token is not None
    finally:
        if token is not None:
            lease_release(name=name, token=token)

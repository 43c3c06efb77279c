"""Who did it: the actor of audit-log entries for staff, API keys, Meta and system tasks.

django-auditlog names a user as the actor. Staff are users already; the storefront's API keys,
Meta's webhooks and Celery tasks get a dedicated user each that can never sign in, so every
change in the audit trail says which of them made it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import lru_cache

from auditlog.context import auditlog_value, set_actor
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

SYSTEM_USER_PREFIX = "system:"
META_WEBHOOK = "meta-webhook"
CELERY = "celery"
COMMAND = "management-command"


@lru_cache(maxsize=32)
def _system_user_pk(name: str) -> int:
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=f"{SYSTEM_USER_PREFIX}{name}",
        defaults={"is_active": False, "first_name": name},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return int(user.pk)


def system_user(name: str) -> AbstractBaseUser:
    """The never-signs-in user that stands for a system actor (Meta's webhooks, tasks...)."""
    User = get_user_model()
    try:
        return User.objects.get(pk=_system_user_pk(name))
    except User.DoesNotExist:  # the cache outlived the row (tests flush the database)
        _system_user_pk.cache_clear()
        return User.objects.get(pk=_system_user_pk(name))


def bind_actor(user: AbstractBaseUser) -> None:
    """Name `user` as the actor of the audit entries of the current request.

    DRF authenticates inside the view, after django-auditlog's middleware captured an anonymous
    request user; this fills in the API key's user.
    """
    try:
        context = auditlog_value.get()
    except LookupError:
        return
    context["actor"] = user


@contextlib.contextmanager
def acting_as(user: AbstractBaseUser, remote_addr: str | None = None) -> Iterator[None]:
    """Audit every change made inside the block as done by `user`."""
    try:
        outer = auditlog_value.get()
    except LookupError:
        outer = None
    if outer is not None:
        previous = outer.get("actor")
        outer["actor"] = user
        try:
            yield
        finally:
            outer["actor"] = previous
        return
    with set_actor(user, remote_addr=remote_addr):
        yield

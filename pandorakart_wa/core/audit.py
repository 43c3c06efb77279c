"""Who did it: the actor of audit-log entries for staff, API keys, Meta and system tasks.

django-auditlog names a user as the actor. Staff are users already; the storefront's API keys,
Meta's webhooks and Celery tasks get a dedicated user each that can never sign in, so every
change in the audit trail says which of them made it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditlog.context import auditlog_value, set_actor
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, models
from django.db.models import Model

from pandorakart_wa.core.correlation import get_correlation_id

if TYPE_CHECKING:
    from auditlog.models import LogEntry

SYSTEM_USER_PREFIX = "system:"
API_KEY_USER_PREFIX = "api-key:"  # the actor user of each storefront API key (services.api_key_create)
META_WEBHOOK = "meta-webhook"
CELERY = "celery"
COMMAND = "management-command"


# Who acts in a service that records a user (messaging, complaints, profile): a staff user, or one
# of the system users below.
User = AbstractBaseUser


class ActorType(models.TextChoices):
    API_KEY = "api_key", "API key"
    STAFF = "staff", "Staff user"
    META = "meta", "Meta"
    SYSTEM = "system", "System"
    CUSTOMER = "customer", "The customer (signed preference link)"
    CONSENT_MANAGER = "consent_manager", "Registered consent manager"


@dataclass(frozen=True)
class Actor:
    """Who made a change, as the consent ledger records it on every event (type, id, label). The
    services of the other apps take the acting `User` (a staff user or a system user); `of_user`
    turns one into the other."""

    type: str
    id: str = ""
    label: str = ""

    @classmethod
    def api_key(cls, api_key: Any) -> Actor:
        return cls(ActorType.API_KEY, str(api_key.pk), str(api_key.name)[:200])

    @classmethod
    def staff(cls, user: Any) -> Actor:
        return cls(ActorType.STAFF, str(user.pk), str(user.get_username())[:200])

    @classmethod
    def of_user(cls, user: AbstractBaseUser) -> Actor:
        """A system user (tasks, webhooks, commands) as a system actor; anyone else as staff."""
        return cls.system(str(user.get_username())) if is_system(user) else cls.staff(user)

    @classmethod
    def meta(cls, label: str = "WhatsApp") -> Actor:
        return cls(ActorType.META, "", label)

    @classmethod
    def system(cls, label: str) -> Actor:
        return cls(ActorType.SYSTEM, "", label)



def is_system(user: AbstractBaseUser) -> bool:
    """Tasks, webhooks and commands act as users that can never sign in."""
    return str(user.get_username()).startswith(SYSTEM_USER_PREFIX)


_system_users: dict[str, AbstractBaseUser] = {}


def system_user(name: str) -> AbstractBaseUser:
    """The never-signs-in user that stands for a system actor (Meta's webhooks, tasks...),
    read once per process (webhooks ask for it several times per update).

    A user created here inside a transaction is not remembered until it is read back from a
    committed row: the transaction may still roll back (a webhook item that fails), and a
    remembered user whose row is gone would break every audit entry that names it."""
    user = _system_users.get(name)
    if user is not None:
        return user
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=f"{SYSTEM_USER_PREFIX}{name}",
        defaults={"is_active": False, "first_name": name},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        if connection.in_atomic_block:
            return user
    _system_users[name] = user
    return user


def system_user_cache_clear() -> None:
    """Forget the system users (tests that flush the database)."""
    _system_users.clear()


def bind_actor(user: AbstractBaseUser) -> None:
    """Name `user` as the actor of the audit entries of the current request.

    DRF authenticates inside the view, after django-auditlog's middleware captured an anonymous
    request user; this fills in the API key's user.
    """
    context = _live_context()
    if context is None:
        return
    context["actor"] = user


def _live_context() -> dict[str, object] | None:
    """django-auditlog's current actor context, or None when there is none or it is stale.

    auditlog's set_actor() disconnects its LogEntry pre_save receiver on exit but leaves the
    context variable set, so after one block (a previous task or request in this thread) the
    variable still holds a dict whose actor nothing reads any more.
    """
    from django.db.models.signals import pre_save

    try:
        context = auditlog_value.get()
    except LookupError:
        return None
    if not isinstance(context, dict):
        return None
    duid = context.get("signal_duid")
    live = any(isinstance(entry[0], tuple) and entry[0][0] == duid for entry in pre_save.receivers)
    return context if live else None


@contextlib.contextmanager
def acting_as(user: AbstractBaseUser, remote_addr: str | None = None) -> Iterator[None]:
    """Audit every change made inside the block as done by `user`."""
    outer = _live_context()
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


def log_access(
    *,
    user: AbstractBaseUser | None,
    obj_or_label: Model | type[Model] | str,
    what: str,
    correlation_id: str | None = None,
    details: Mapping[str, object] | None = None,
) -> LogEntry:
    """Record in the audit trail that `user` saw or took personal data: an ACCESS entry.

    Call it for every reveal of a full phone number and every export (CSV, evidence pack).
    - `obj_or_label`: the object revealed (a model instance), the kind of records exported (a
      model class), or a free label (a str, filed under the audit log's own content type).
    - `what`: what was accessed, e.g. "revealed full phone number", "exported consent ledger
      CSV 2025-01-01..2025-01-31". Never the personal data itself.
    - `correlation_id`: defaults to the current request's or task's id.
    - `details`: extra JSON-safe facts (row counts, date range), never personal data.
    The actor is `user`, or the current audit actor (request user, acting_as) when None.
    """
    from auditlog.models import LogEntry

    return log_event(user=user, obj_or_label=obj_or_label, what=what, action=LogEntry.Action.ACCESS,
                     correlation_id=correlation_id, details=details)


def log_event(
    *,
    user: AbstractBaseUser | None,
    obj_or_label: Model | type[Model] | str,
    what: str,
    action: int,
    correlation_id: str | None = None,
    details: Mapping[str, object] | None = None,
) -> LogEntry:
    """An audit entry that is no field change of a registered model: an ACCESS (log_access),
    or a staff action on rows the trail does not follow (lifting a sign-in lockout deletes
    django-axes's attempts: a DELETE entry saying so). Same arguments as log_access."""
    from auditlog.models import LogEntry
    from django.contrib.contenttypes.models import ContentType


    if user is None:
        context = _live_context()
        user = context.get("actor") if context is not None else None  # type: ignore[assignment]
    actor = user if getattr(user, "pk", None) is not None else None
    data: dict[str, object] = {"what": what, **(details or {})}
    fields: dict[str, object] = {
        "action": action,
        "actor": actor,
        "actor_email": getattr(actor, "email", None) or None,
        "cid": correlation_id or get_correlation_id(),
        "additional_data": data,
        "changes": None,
        "serialized_data": None,
    }
    if isinstance(obj_or_label, Model):
        pk = obj_or_label.pk
        return LogEntry.objects.create(
            content_type=ContentType.objects.get_for_model(obj_or_label),
            object_pk=str(pk),
            object_id=pk if isinstance(pk, int) else None,
            object_repr=str(obj_or_label),
            **fields,
        )
    if isinstance(obj_or_label, type) and issubclass(obj_or_label, Model):
        return LogEntry.objects.create(
            content_type=ContentType.objects.get_for_model(obj_or_label),
            object_pk="",
            object_repr=str(obj_or_label._meta.verbose_name_plural),
            **fields,
        )
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(LogEntry),
        object_pk="",
        object_repr=str(obj_or_label),
        **fields,
    )

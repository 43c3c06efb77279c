"""Staff screens of the messaging app. Templates part: the editor with its lint findings beside
it, the four-eyes workflow as permission-gated actions, Meta's status and quality history.
Every write goes through messaging.services."""

# The registrations, for admin autodiscovery (which imports this package): templates, revisions,
# the reference tables, and messages, campaigns and the sending policy (sending.py).
from messaging.admin import reference, revisions, sending, templates  # noqa: F401

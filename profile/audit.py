"""django-auditlog registration: field-level history of every change staff care about.

The profile's email and phone fields are the business's public contact details, not personal
data, so they are not masked: the history must show exactly what customers were shown.
"""

from __future__ import annotations

from auditlog.registry import auditlog

from profile.models import BusinessProfile, ComplianceAlert, PolicyVersion, ProfileDrift, RegulatoryChange

auditlog.register(BusinessProfile, exclude_fields=["updated_at"])
auditlog.register(ProfileDrift)
auditlog.register(PolicyVersion)
auditlog.register(RegulatoryChange, exclude_fields=["updated_at"])
auditlog.register(ComplianceAlert, exclude_fields=["last_raised_at", "count"])

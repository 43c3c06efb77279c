"""Kept for the landed migrations that import `pandorakart_wa.roles` (migrations are never edited):
the code lives in pandorakart_wa/core/roles.py."""

from pandorakart_wa.core.roles import AUDITOR, COMPLIANCE_OFFICER, MARKETING, SUPPORT_AGENT, grant, revoke

__all__ = ["AUDITOR", "COMPLIANCE_OFFICER", "MARKETING", "SUPPORT_AGENT", "grant", "revoke"]

"""Consent and privacy endpoints, mounted under /api/v1/ by the composition root."""

from __future__ import annotations

from django.urls import URLPattern, path

from consent.api import (
    ConsentLookupApi,
    ConsentOptInApi,
    ConsentOptOutApi,
    ConsentStateApi,
    NoticeCurrentApi,
    PreferenceLinkApi,
    PrivacyErasureApi,
    PrivacyExportApi,
)
from consent.ledger_api import LedgerCheckpointApi, LedgerConsistencyApi, LedgerProofApi
from consent.manager_api import ConsentManagerArtefactApi, ConsentManagerEventApi

urlpatterns: list[URLPattern] = [
    path("consents/opt-in", ConsentOptInApi.as_view(), name="consent-opt-in"),
    path("consents/opt-out", ConsentOptOutApi.as_view(), name="consent-opt-out"),
    path("consents/lookup", ConsentLookupApi.as_view(), name="consent-lookup"),  # before <phone>
    path("consents/<str:phone>", ConsentStateApi.as_view(), name="consent-state"),
    path("notices/current", NoticeCurrentApi.as_view(), name="notice-current"),
    path("privacy/erasure", PrivacyErasureApi.as_view(), name="privacy-erasure"),
    path("privacy/export", PrivacyExportApi.as_view(), name="privacy-export"),
    path("preferences/link", PreferenceLinkApi.as_view(), name="preference-link"),
    path("consent-manager/events", ConsentManagerEventApi.as_view(), name="consent-manager-events"),
    path("consent-manager/artefacts/<str:artefact_id>", ConsentManagerArtefactApi.as_view(),
         name="consent-manager-artefact"),
    path("ledger/checkpoint", LedgerCheckpointApi.as_view(), name="ledger-checkpoint"),
    path("ledger/proof/<str:event>", LedgerProofApi.as_view(), name="ledger-proof"),
    path("ledger/consistency", LedgerConsistencyApi.as_view(), name="ledger-consistency"),
]

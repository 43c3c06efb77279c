"""/admin/compliance/...: mounted in pandorakart_wa/urls.py before the admin site's own URLs.

Every view goes through the admin site's `admin_view`: signed in, staff, two-factor verified
(otherwise to the sign-in page), never cached; each view then checks its own permission.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import path

from pandorakart_wa.backoffice import views

app_name = "dashboard"

urlpatterns = [
    path("", admin.site.admin_view(views.dashboard), name="index"),
    path("verify-ledger/", admin.site.admin_view(views.verify_ledger_now), name="verify_ledger"),
    path("reports/", admin.site.admin_view(views.reports_index), name="reports"),
    path("reports/consent-ledger.csv", admin.site.admin_view(views.export_ledger), name="export_ledger"),
    path("reports/suppression-list.csv", admin.site.admin_view(views.export_suppression), name="export_suppression"),
    path("reports/complaints-register.csv", admin.site.admin_view(views.export_complaints),
         name="export_complaints"),
    path("evidence/", admin.site.admin_view(views.evidence_lookup), name="evidence_lookup"),
    path("evidence/<str:contact_id>/", admin.site.admin_view(views.evidence_pack_page), name="evidence_pack"),
    path("evidence/<str:contact_id>/pack.json", admin.site.admin_view(views.evidence_pack_json),
         name="evidence_pack_json"),
]

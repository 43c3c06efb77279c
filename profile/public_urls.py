"""Public pages (no login): the WhatsApp Business Policy and its earlier versions."""

from __future__ import annotations

from django.urls import path

from profile import views

urlpatterns = [
    path("policy/", views.policy_current_view, name="public-policy"),
    path("policy/v/<int:number>/", views.policy_version_view, name="public-policy-version"),
]

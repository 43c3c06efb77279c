"""Public pages of consent (no login): the customer's preference centre behind a signed link."""

from __future__ import annotations

from django.urls import URLPattern, path

from consent.views import preference_centre

urlpatterns: list[URLPattern] = [
    path("<str:token>/", preference_centre, name="preference-centre"),
]

from __future__ import annotations

from django.urls import path

from profile.api import ProfileApi

urlpatterns = [
    path("profile", ProfileApi.as_view(), name="api-profile"),
]

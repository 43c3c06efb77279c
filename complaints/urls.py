from __future__ import annotations

from django.urls import path

from complaints.api import ComplaintCreateApi, ComplaintDetailApi

urlpatterns = [
    path("complaints", ComplaintCreateApi.as_view(), name="api-complaints"),
    path("complaints/<str:reference>", ComplaintDetailApi.as_view(), name="api-complaint"),
]

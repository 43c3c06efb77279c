from __future__ import annotations

from django.urls import path

from messaging.api import TemplateListApi

urlpatterns = [
    path("templates", TemplateListApi.as_view(), name="api-templates"),
]

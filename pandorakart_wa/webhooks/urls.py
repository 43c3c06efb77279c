from __future__ import annotations

from django.urls import path

from pandorakart_wa.webhooks.views import whatsapp_webhook

urlpatterns = [
    path("whatsapp", whatsapp_webhook, name="whatsapp-webhook"),
]

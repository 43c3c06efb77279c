"""The composition root: every app's URLs, the webhook endpoint, health and the API schema."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from pandorakart_wa.core.api.views import PingApi
from pandorakart_wa.health import health
from pandorakart_wa.metrics import metrics

api_v1: list[URLPattern | URLResolver] = [
    path("ping", PingApi.as_view(), name="api-ping"),
    path("", include("consent.urls")),
    path("", include("messaging.urls")),
    path("", include("profile.urls")),
    path("", include("complaints.urls")),
]

urlpatterns = [
    path("health", health, name="health"),
    path("metrics", metrics, name="metrics"),  # Prometheus; bearer token (METRICS_TOKEN)
    path("admin/compliance/", include("pandorakart_wa.backoffice.urls")),  # dashboard, reports, evidence pack
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("webhooks/", include("pandorakart_wa.webhooks.urls")),
    path("preferences/", include("consent.public_urls")),  # the customer's page, behind a signed link
    path("", include("profile.public_urls")),
]

handler400 = "pandorakart_wa.core.api.errors.json_400"
handler403 = "pandorakart_wa.core.api.errors.json_403"
handler404 = "pandorakart_wa.core.api.errors.json_404"
handler500 = "pandorakart_wa.core.api.errors.json_500"

admin.site.site_header = "PandoraKart WhatsApp compliance"
admin.site.site_title = "PandoraKart compliance"
admin.site.index_title = "Back office"

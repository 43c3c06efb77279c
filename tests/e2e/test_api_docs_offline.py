"""/api/docs/ works with no network: Swagger UI comes from the project (drf-spectacular-sidecar)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_docs_page_and_its_assets_load_with_no_network(page: Page, live_server, screenshot):
    # given a browser that can reach nothing but this service
    own_host = urlsplit(live_server.url).netloc
    leaving: list[str] = []
    loaded: list[str] = []

    def only_this_service(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).netloc != own_host:
            leaving.append(url)
            route.abort("internetdisconnected")
        else:
            loaded.append(url)
            route.continue_()

    page.route("**/*", only_this_service)
    # when
    page.goto("/api/docs/")
    # then Swagger UI renders the schema's operations
    page.locator(".swagger-ui .info .title").filter(has_text="PandoraKart WhatsApp compliance API").wait_for()
    page.locator(".opblock-summary-path", has_text="/api/v1/consents/lookup").first.wait_for()
    screenshot(page, "api-docs-offline")
    assert leaving == []
    assert any(url.endswith("swagger-ui-bundle.js") for url in loaded)
    assert any(url.endswith("/api/schema/") for url in loaded)

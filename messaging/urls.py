from __future__ import annotations

from django.urls import path

from messaging.api import MessageBatchApi, MessageDetailApi, MessageSendApi, TemplateListApi

urlpatterns = [
    path("templates", TemplateListApi.as_view(), name="api-templates"),
    path("messages", MessageSendApi.as_view(), name="api-messages"),
    path("messages/batch", MessageBatchApi.as_view(), name="api-messages-batch"),
    path("messages/<str:message_id>", MessageDetailApi.as_view(), name="api-message"),
]

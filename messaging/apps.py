from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    label = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        from messaging import audit  # noqa: F401  (registers the models with django-auditlog)

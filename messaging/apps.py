from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    label = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        # the models' registration with django-auditlog, and the Celery tasks messaging/wake.py
        # names (registered in every process, web included)
        from messaging import audit, tasks  # noqa: F401

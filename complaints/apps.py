from django.apps import AppConfig


class ComplaintsConfig(AppConfig):
    name = "complaints"
    label = "complaints"
    verbose_name = "Complaints"

"""Django app configuration for tillit.audit."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "tillit.audit"
    label = "audit"
    verbose_name = "The append-only audit log"

"""Django app configuration for tillit.incidents."""

from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "tillit.incidents"
    label = "incidents"
    verbose_name = "Personal data breaches (GDPR art. 33-34)"

"""Django app configuration for tillit.rights."""

from django.apps import AppConfig


class RightsConfig(AppConfig):
    name = "tillit.rights"
    label = "rights"
    verbose_name = "Data subject requests"

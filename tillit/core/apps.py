"""Django app configuration for tillit.core."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "tillit.core"
    label = "tillit_core"
    verbose_name = "The shared kernel"

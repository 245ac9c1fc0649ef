"""Django app configuration for tillit.cli."""

from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "tillit.cli"
    label = "tillit_cli"
    verbose_name = "The console script and management commands"

"""Django app configuration for tillit.web."""

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "tillit.web"
    label = "tillit_web"
    verbose_name = "The staff UI"

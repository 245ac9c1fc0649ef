"""Django app configuration for tillit.api."""

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "tillit.api"
    label = "tillit_api"
    verbose_name = "The JSON API (django-ninja)"

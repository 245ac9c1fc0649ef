"""Django app configuration for tillit.capture."""

from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "tillit.capture"
    label = "capture"
    verbose_name = "Forms, chat, orders, events, site visits and register import"

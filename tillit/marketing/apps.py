"""Django app configuration for tillit.marketing."""

from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "tillit.marketing"
    label = "marketing"
    verbose_name = "Newsletters, campaigns, sends and unsubscribe"

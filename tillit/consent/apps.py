"""Django app configuration for tillit.consent."""

from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "tillit.consent"
    label = "consent"
    verbose_name = "The consent ledger, the suppression list, cookie consent and GPC"

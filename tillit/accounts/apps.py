"""Django app configuration for tillit.accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "tillit.accounts"
    label = "accounts"
    verbose_name = "Staff users, roles and API clients"

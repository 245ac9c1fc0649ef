"""Django app configuration for tillit.public."""

from django.apps import AppConfig


class PublicConfig(AppConfig):
    name = "tillit.public"
    label = "tillit_public"
    verbose_name = "Pages for data subjects: notice, rights portal, unsubscribe, cookie banner"

"""Django app configuration for tillit.sharing."""

from django.apps import AppConfig


class SharingConfig(AppConfig):
    name = "tillit.sharing"
    label = "sharing"
    verbose_name = "Partners, dialogues, disclosures and processors"

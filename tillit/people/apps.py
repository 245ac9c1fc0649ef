"""Django app configuration for tillit.people."""

from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "tillit.people"
    label = "people"
    verbose_name = "People, organisations, the interaction timeline and provenance"

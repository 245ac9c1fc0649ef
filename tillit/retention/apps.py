"""Django app configuration for tillit.retention."""

from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "tillit.retention"
    label = "retention"
    verbose_name = "Retention deadlines, erasure, the sweep and receipts"

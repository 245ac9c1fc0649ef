"""Django app configuration for tillit.retention."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class RetentionConfig(AppConfig):
    name = "tillit.retention"
    label = "retention"
    verbose_name = "Retention deadlines, erasure, the sweep and receipts"

    def ready(self) -> None:
        from tillit.retention.journal import reinstall_after_migrate

        # Not a business rule: the restore journal's triggers must survive a table rebuild.
        post_migrate.connect(reinstall_after_migrate, sender=self, dispatch_uid="retention_journal_triggers")

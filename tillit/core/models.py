"""Models of the shared kernel: the record of scheduled runs."""

from __future__ import annotations

from django.db import models


class ScheduledRun(models.Model):
    """One enqueued run of a periodic job on one day. The unique constraint makes the daily
    enqueue happen once even when several schedulers run on several hosts."""

    job = models.CharField(max_length=60)
    day = models.DateField()
    enqueued_at = models.DateTimeField()
    task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "day"], name="core_scheduledrun_unique_job_day")]

    def __str__(self) -> str:
        return f"{self.job} on {self.day}"

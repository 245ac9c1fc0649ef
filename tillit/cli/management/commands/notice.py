"""``tillit notice ACTION``: the privacy notice (policy §14).

- ``tillit notice publish``: render the notice from the policy in every language and publish it.
  Prints ``published notice version 2026-11-24 1a2b3c4d`` when the texts changed, else
  ``notice unchanged (1a2b3c4d)``.
- ``tillit notice changes``: who must be told about a new purpose before it is used for them.
- ``tillit notice inform``: email them the updated notice (a task) and record it.

Both ``changes`` and ``inform`` refuse while a purpose new to someone rests on a basis other
than consent without its compatibility assessment in the policy (GDPR art. 6(4),
``tillit.policy.assessments.unassessed``): informing people would unlock it.

Each action is a subparser and a method ``action_<name>`` (``-`` becomes ``_``); to add one,
add both.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import CommandParser
from django.db.models import Count
from django.utils import timezone

from tillit.cli.base import TillitCommand
from tillit.consent import selectors as consent_selectors
from tillit.consent.tasks import inform_of_new_purposes
from tillit.core.actors import Actor
from tillit.core.errors import ConflictError, ValidationError
from tillit.policy import current as current_policy
from tillit.policy.assessments import unassessed
from tillit.public.notice import publish_current


class Command(TillitCommand):
    help = "The privacy notice: publish renders it from the policy in every language and stores a new version."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        actions.add_parser(
            "publish",
            help="Render the notice from the policy in every language; store a new version if the text changed.",
        )
        actions.add_parser("changes", help="Count who must be told about a new purpose before it is used for them.")
        inform = actions.add_parser("inform", help="Email them the updated notice (a background task) and record it.")
        inform.add_argument("--batch-size", type=int, default=500, help="People per task (default 500).")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        action = str(options.pop("action")).replace("-", "_")
        getattr(self, f"action_{action}")(now=now, **options)

    def action_publish(self, *, now: dt.datetime, **options: Any) -> None:
        """Publish the notice in force (§14); a no-op when its text is already published."""
        publication = publish_current(now, actor=Actor.system("cli:notice-publish"))
        version = publication.version
        short = version.digest[:8]
        if publication.created:
            day = timezone.localdate(version.published_at).isoformat()
            self.stdout.write(f"published notice version {day} {short}")
        else:
            self.stdout.write(f"notice unchanged ({short})")

    @staticmethod
    def _missing() -> dict[str, int]:
        """Each purpose of the policy in force that someone's notice lacked, and how many."""
        missing: dict[str, int] = {}
        for version_id, count in (
            consent_selectors.people_to_inform().values_list("notice_version_id").annotate(n=Count("pk"))
        ):
            for purpose in consent_selectors.missing_purposes(version_id):
                missing[purpose] = missing.get(purpose, 0) + count
        return missing

    @staticmethod
    def _refuse_unassessed(missing: dict[str, int]) -> None:
        """GDPR art. 6(4): a new purpose not resting on consent is not unlocked without its
        compatibility assessment in the policy."""
        lacking = unassessed(current_policy(), missing)
        if lacking:
            raise ConflictError(
                f"purpose {lacking[0]!r} is new to {missing[lacking[0]]:,} people and does not rest on consent: "
                f"the policy needs its compatibility assessment (art. 6(4): purposes.{lacking[0]}.compatibility)"
            )

    def action_changes(self, *, now: dt.datetime, **options: Any) -> None:
        """Who was given a notice that lacks a purpose of the policy in force (§14)."""
        current = consent_selectors.current_notice()
        missing = self._missing()
        self._refuse_unassessed(missing)
        total = consent_selectors.people_to_inform().count()
        if not total:
            self.stdout.write("everyone has been given a notice that names every purpose in force")
            return
        self.stdout.write(f"{total:,} people must be told before these purposes may be used for them:")
        for purpose, count in sorted(missing.items()):
            self.stdout.write(f"  {purpose}: {count:,} people")
        if current is not None:
            self.stdout.write(f"run `tillit notice inform` to email them notice {current.digest[:8]}")

    def action_inform(self, *, now: dt.datetime, **options: Any) -> None:
        """Enqueue emails of the updated notice (in each person's language), in batches."""
        current = consent_selectors.current_notice()
        if current is None:
            raise ConflictError("no notice is published yet: run `tillit notice publish` first")
        if not 1 <= options["batch_size"] <= 10_000:
            raise ValidationError("must be between 1 and 10000", field="--batch-size")
        self._refuse_unassessed(self._missing())
        ids = list(consent_selectors.people_to_inform().exclude(email=None).values_list("pk", flat=True))
        for start in range(0, len(ids), options["batch_size"]):
            inform_of_new_purposes.enqueue(ids[start : start + options["batch_size"]], current.pk)
        self.stdout.write(f"enqueued the updated notice for {len(ids):,} people (run `tillit db_worker` to send)")

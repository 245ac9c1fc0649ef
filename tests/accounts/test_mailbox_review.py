"""The yearly mailbox review (issue 16 item 10; policy §16: "at least every 12 months"),
proven by travelling in time: who is overdue, a reminder to each staff member before their
review is due (a daily job, by email over a real SMTP server, and on their home page), and
no second reminder for the same due date."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from tillit import policy
from tillit.accounts import selectors, services
from tillit.accounts.models import MailboxReviewReminder
from tillit.accounts.selectors import actor_for_user
from tillit.accounts.tasks import remind_mailbox_reviews
from tillit.audit.models import AuditEntry
from tillit.cli.management.commands.scheduler import jobs
from tillit.core.actors import Actor
from tillit.core.scheduling import enqueue_due
from tillit.policy import staff as rule
from tillit.policy.retention import add_months

from ..conftest import sign_in_verified

pytestmark = pytest.mark.django_db

JOINED = dt.datetime(2025, 1, 10, 9, tzinfo=dt.UTC)
SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def _daily_jobs_run_at_once(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.TILLIT_SWEEP_HOUR = 2
    settings.TILLIT_PUBLIC_URL = "https://tillit.example.com"


def staff(username: str, role: str = "sales", *, joined: dt.datetime = JOINED):
    return services.create_staff_user(
        actor=SYSTEM, now=joined, username=username, role=role, password="pw", email=f"{username}@avara.example"
    )


def review(user, at: dt.datetime) -> None:
    services.confirm_mailbox_review(actor=actor_for_user(user), now=at)


@pytest.mark.parametrize(
    ("last", "now", "overdue", "reminder"),
    [
        (None, JOINED, False, False),
        (None, dt.datetime(2025, 12, 26, 9, tzinfo=dt.UTC), False, False),  # 15 days before
        (None, dt.datetime(2025, 12, 27, 9, tzinfo=dt.UTC), False, True),  # 14 days before: remind
        (None, dt.datetime(2026, 1, 10, 8, 59, tzinfo=dt.UTC), False, True),
        (None, dt.datetime(2026, 1, 10, 9, tzinfo=dt.UTC), True, True),  # exactly 12 months: due
        (dt.datetime(2025, 6, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 10, 9, tzinfo=dt.UTC), False, False),
        (dt.datetime(2024, 2, 29, tzinfo=dt.UTC), dt.datetime(2025, 2, 28, tzinfo=dt.UTC), True, True),
    ],
)
def test_the_twelve_month_rule(last, now, overdue, reminder):
    state = rule.mailbox_review_state(policy.current(), last_review_at=last, joined_at=JOINED, now=now)
    assert (state.is_overdue, state.is_reminder_due) == (overdue, reminder)
    assert state.due_at == add_months(last or JOINED, policy.current().email_and_phone.mailbox_review_months)


def test_the_overdue_list_follows_the_clock():
    ada, bo = staff("ada"), staff("bo")
    officer = staff("officer", "privacy_officer")
    review(ada, dt.datetime(2025, 3, 1, 9, tzinfo=dt.UTC))
    review(bo, dt.datetime(2025, 9, 1, 9, tzinfo=dt.UTC))
    review(officer, dt.datetime(2025, 9, 1, 9, tzinfo=dt.UTC))
    actor = actor_for_user(officer)

    def overdue(at: dt.datetime) -> set[str]:
        return {str(r["username"]) for r in selectors.mailbox_reviews(actor=actor, now=at) if r["overdue"]}

    assert overdue(dt.datetime(2026, 2, 28, 9, tzinfo=dt.UTC)) == set()
    assert overdue(dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)) == {"ada"}
    assert overdue(dt.datetime(2026, 9, 1, 9, tzinfo=dt.UTC)) == {"ada", "bo", "officer"}
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC), tick=False):
        page = sign_in_verified(Client(), officer).get("/mailbox-reviews/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Overdue: 1." in html
    assert 'data-testid="review-ada"><strong class="error">overdue' in html
    assert 'data-testid="review-bo"></td>' in html
    review(ada, dt.datetime(2026, 9, 1, 10, tzinfo=dt.UTC))
    assert overdue(dt.datetime(2026, 9, 1, 11, tzinfo=dt.UTC)) == {"bo", "officer"}


def test_each_staff_member_is_reminded_by_email_before_their_review_is_due(smtp_server):
    ada = staff("ada")
    bo = staff("bo", joined=dt.datetime(2025, 6, 1, 9, tzinfo=dt.UTC))
    staff("gone").__class__.objects.filter(username="gone").update(is_active=False)
    # 13 days before Ada's review is due (a year after she joined); Bo is months away.
    with time_machine.travel(dt.datetime(2025, 12, 28, 1, 30, tzinfo=dt.UTC), tick=False):
        assert "accounts.mailbox_reminders" in enqueue_due(jobs(), now=timezone.now())
    assert [m.envelope_to for m in smtp_server.messages] == [[ada.email]]
    message = smtp_server.messages[0]
    assert message["Subject"] == "Your yearly mailbox review is due on 2026-01-10"
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert "https://tillit.example.com/" in text
    assert "§16" in text
    reminder = MailboxReviewReminder.objects.get(user=ada)
    assert reminder.sent_at is not None
    assert message["Message-ID"] == f"<mailbox-review-{reminder.pk}-2026-01-10@avara.no>"
    assert AuditEntry.objects.filter(action="remind", subject_type="staff", subject_id=ada.pk).count() == 1
    # The next day: no second reminder for the same due date.
    with time_machine.travel(dt.datetime(2025, 12, 29, 1, 30, tzinfo=dt.UTC), tick=False):
        assert remind_mailbox_reviews.call() == {"sent": 0}
    assert len(smtp_server.messages) == 1
    # Ada reviews; a year on she is reminded of her next due date, and Bo of his.
    review(ada, dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC))
    with time_machine.travel(dt.datetime(2026, 5, 20, 1, 30, tzinfo=dt.UTC), tick=False):
        assert remind_mailbox_reviews.call() == {"sent": 1}
    assert smtp_server.messages[-1].envelope_to == [bo.email]
    with time_machine.travel(dt.datetime(2026, 12, 25, 1, 30, tzinfo=dt.UTC), tick=False):
        assert remind_mailbox_reviews.call() == {"sent": 1}
    assert smtp_server.messages[-1]["Subject"] == "Your yearly mailbox review is due on 2027-01-05"


def test_a_reminder_whose_email_failed_is_sent_on_the_next_run(settings, smtp_server):
    ada = staff("ada")
    port, settings.EMAIL_PORT = settings.EMAIL_PORT, 1  # nothing listens on port 1
    at = dt.datetime(2025, 12, 30, 9, tzinfo=dt.UTC)
    bo = staff("bo", joined=dt.datetime(2025, 1, 11, 9, tzinfo=dt.UTC))
    assert services.remind_mailbox_reviews(actor=SYSTEM, now=at) == 0, "a failed send stops nobody else"
    assert MailboxReviewReminder.objects.filter(sent_at__isnull=True).count() == 2
    assert MailboxReviewReminder.objects.get(user=ada).sent_at is None
    settings.EMAIL_PORT = port
    assert services.remind_mailbox_reviews(actor=SYSTEM, now=at + dt.timedelta(days=1)) == 2
    assert MailboxReviewReminder.objects.get(user=ada).sent_at is not None
    assert sorted(m.envelope_to[0] for m in smtp_server.messages) == [ada.email, bo.email]
    assert MailboxReviewReminder.objects.count() == 2, "the same claims, sent once each"


def test_the_home_page_reminds_before_the_review_is_due():
    ada = staff("ada")

    def home(at: dt.datetime) -> str:
        with time_machine.travel(at, tick=False):
            return sign_in_verified(Client(), ada).get("/").content.decode()

    assert 'data-testid="mailbox-review-reminder"' not in home(dt.datetime(2025, 12, 1, 9, tzinfo=dt.UTC))
    soon = home(dt.datetime(2025, 12, 30, 9, tzinfo=dt.UTC))
    assert 'data-testid="mailbox-review-reminder"' in soon
    assert "Your yearly mailbox review is due on 2026-01-10." in soon
    late = home(dt.datetime(2026, 2, 1, 9, tzinfo=dt.UTC))
    assert "Your yearly mailbox review was due on 2026-01-10." in late
    review(ada, dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC))
    assert 'data-testid="mailbox-review-reminder"' not in home(dt.datetime(2026, 2, 2, 9, tzinfo=dt.UTC))


def test_the_reminder_on_the_home_page_speaks_swedish_and_norwegian():
    from django.utils import translation

    ada = staff("ada")
    client = sign_in_verified(Client(), ada)
    try:
        with time_machine.travel(dt.datetime(2025, 12, 30, 9, tzinfo=dt.UTC), tick=False):
            nb = client.get("/", headers={"Accept-Language": "nb"}).content.decode()
            sv = client.get("/", headers={"Accept-Language": "sv"}).content.decode()
    finally:
        translation.activate("en")
    assert "Den årlige gjennomgangen av e-postkassen din skal gjøres innen 2026-01-10." in nb
    assert "Din årliga genomgång av e-postlådan ska göras senast 2026-01-10." in sv

"""The email that reminds a staff member of their yearly mailbox review (§16). It holds no
personal data of anyone else: the due date, what to do and a link to the home page."""

from __future__ import annotations

import datetime as dt
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from tillit import policy
from tillit.policy.retention import CONTROLLER_TIME_ZONE


def mailbox_review_reminder(*, email: str, due_at: dt.datetime, reminder_id: int) -> EmailMessage:
    current = policy.current()
    due = due_at.astimezone(CONTROLLER_TIME_ZONE).date().isoformat()
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("Your yearly mailbox review is due on %(date)s") % {"date": due}
        body = "\n\n".join(
            [
                _("Your yearly mailbox review is due on %(date)s.") % {"date": due},
                _(
                    "Go through your mailbox and delete the emails about customers and contacts that are "
                    "no longer needed; put what must be kept on the person's timeline in %(system)s "
                    "(privacy policy §16: at least every %(months)s months)."
                )
                % {"system": "tillit", "months": current.email_and_phone.mailbox_review_months},
                _("When you are done, confirm it on your home page: %(url)s") % {"url": _home_url()},
                current.controller.name,
            ]
        )
    message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[email])
    message.extra_headers["Auto-Submitted"] = "auto-generated"
    # One id per reminder: a retried send is recognisable as the same message.
    domain = parseaddr(str(settings.DEFAULT_FROM_EMAIL))[1].rpartition("@")[2] or "localhost"
    message.extra_headers["Message-ID"] = f"<mailbox-review-{reminder_id}-{due}@{domain}>"
    return message


def _home_url() -> str:
    return settings.TILLIT_PUBLIC_URL + reverse("web:home")

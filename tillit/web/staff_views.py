"""Staff pages about staff (§16): the yearly mailbox review, and accounts with offboarding."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from tillit import policy
from tillit.accounts import selectors as account_selectors
from tillit.accounts import services as account_services
from tillit.core.actors import Actor
from tillit.core.errors import DomainError, PermissionDeniedError
from tillit.policy import purposes as purpose_rules
from tillit.web.views import staff_view


@staff_view
@require_POST
def confirm_mailbox_review(request: HttpRequest, actor: Actor) -> HttpResponse:
    account_services.confirm_mailbox_review(actor=actor, now=timezone.now())
    messages.success(request, _("Thank you: your mailbox review is recorded."))
    return HttpResponseRedirect(reverse("web:home"))


@staff_view
def mailbox_reviews(request: HttpRequest, actor: Actor) -> HttpResponse:
    rows = account_selectors.mailbox_reviews(actor=actor, now=timezone.now())
    return render(request, "web/mailbox_reviews.html", {"rows": rows, "overdue": sum(r["overdue"] for r in rows)})


class NewStaffForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("Username"), max_length=150)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=())
    password = forms.CharField(label=gettext_lazy("First password"), widget=forms.PasswordInput, min_length=12)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["role"].choices = list(role_labels().items())  # type: ignore[attr-defined]


def role_labels() -> dict[str, str]:
    """The staff roles by their label in the page's language (the policy gives en, sv and nb)."""
    current = policy.current()
    language = (translation.get_language() or current.default_language).split("-")[0]
    return {key: role.label.get(language, role.label[current.default_language]) for key, role in current.roles.items()}


@staff_view
@require_http_methods(["GET", "POST"])
def staff_accounts(request: HttpRequest, actor: Actor) -> HttpResponse:
    accounts = account_selectors.staff_accounts(actor=actor)
    labels = role_labels()
    for account in accounts:
        account.role_label = labels.get(account.role, account.role)  # type: ignore[attr-defined]
    form = NewStaffForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account_services.create_staff_user(actor=actor, now=timezone.now(), **form.cleaned_data)
        except DomainError as error:
            form.add_error(error.field if error.field in form.fields else None, error.message)
        else:
            messages.success(request, _("Account created. The second factor is set up at first sign-in."))
            return HttpResponseRedirect(reverse("web:staff"))
    return render(request, "web/staff.html", {"accounts": accounts, "form": form}, status=422 if form.errors else 200)


@staff_view
@require_POST
def offboard(request: HttpRequest, actor: Actor, user_id: int) -> HttpResponse:
    if not purpose_rules.may_use_tool(policy.current(), actor.role, "staff_accounts"):
        raise PermissionDeniedError("your role may not manage staff accounts")
    try:
        successor = int(request.POST.get("successor", ""))
    except ValueError:
        messages.error(request, _("Choose the colleague who takes over."))
        return HttpResponseRedirect(reverse("web:staff"))
    try:
        handover = account_services.offboard_staff(
            actor=actor, now=timezone.now(), user_id=user_id, successor_id=successor
        )
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _(
                "Account closed; %(people)s person records, %(emails)s emails and %(open_dialogues)s open "
                "dialogues handed over."
            )
            % handover.counts,
        )
    return HttpResponseRedirect(reverse("web:staff"))

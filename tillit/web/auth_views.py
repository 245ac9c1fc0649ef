"""Staff sign-in: password and a TOTP code (RFC 6238), enrolment by QR code on first sign-in,
lock-out after repeated failures (django-axes). A wrong password and a wrong code get the same
message, and both count towards the lock-out."""

from __future__ import annotations

import base64
import time

import segno
from django import forms
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.accounts import services as account_services
from tillit.accounts.models import User
from tillit.accounts.selectors import actor_for_user
from tillit.web.middleware import SessionLifetimeMiddleware

ENROLLING = "tillit_enrolling_user"


class SignInForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("Username"), max_length=150)
    password = forms.CharField(label=gettext_lazy("Password"), widget=forms.PasswordInput, max_length=1000)
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        max_length=10,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        max_length=10,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return reverse("web:home")


def _failed(request: HttpRequest, username: str) -> None:
    """Count a failed code like a failed password (django-axes listens to this signal)."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


def _audit_failure(username: str, *, locked_out: bool = False) -> None:
    user_id = User.objects.filter(username=username).values_list("pk", flat=True).first()
    account_services.record_sign_in(
        now=timezone.now(), user_id=user_id, outcome="locked_out" if locked_out else "failed"
    )


@sensitive_post_parameters("password", "code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    form = SignInForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"]
        user = authenticate(request, username=username, password=form.cleaned_data["password"])
        if getattr(request, "axes_locked_out", False):
            _audit_failure(username, locked_out=True)
            return render(request, "web/locked_out.html", status=429)
        if isinstance(user, User) and not account_services.has_confirmed_totp(user):
            request.session[ENROLLING] = user.pk
            request.session.cycle_key()
            return HttpResponseRedirect(reverse("web:enrol") + f"?next={_next(request)}")
        if isinstance(user, User) and account_services.check_totp(user=user, code=form.cleaned_data["code"]):
            device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
            login(request, user)
            otp_login(request, device)
            request.session[SessionLifetimeMiddleware.KEY] = time.time()
            account_services.record_sign_in(now=timezone.now(), user_id=user.pk, outcome="signed_in")
            return HttpResponseRedirect(_next(request))
        if user is not None:
            _failed(request, username)
        _audit_failure(username)
        error = _("Wrong username, password or code.")
    return render(
        request, "web/login.html", {"form": form, "error": error, "next": _next(request)}, status=401 if error else 200
    )


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    """First sign-in: show the QR code of a new TOTP secret, sign in once a code is valid."""
    enrolling = request.session.get(ENROLLING)
    user = User.objects.filter(pk=enrolling, is_active=True).first() if isinstance(enrolling, int) else None
    if user is None:
        return HttpResponseRedirect(reverse("web:login"))
    device = account_services.totp_device_for_enrolment(user=user)
    form = CodeForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        confirmed = account_services.confirm_totp_enrolment(
            actor=actor_for_user(user), now=timezone.now(), user=user, code=form.cleaned_data["code"]
        )
        if confirmed is not None:
            del request.session[ENROLLING]
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            otp_login(request, confirmed)
            request.session[SessionLifetimeMiddleware.KEY] = time.time()
            return HttpResponseRedirect(_next(request))
        _failed(request, user.username)
        error = _("That code is not right. Check the time on your phone and try the next code.")
    qr = segno.make(device.config_url, error="m")
    return render(
        request,
        "web/enrol.html",
        {"form": form, "error": error, "qr": qr.svg_inline(scale=4), "secret": _base32(device), "next": _next(request)},
        status=401 if error else 200,
    )


def _base32(device: TOTPDevice) -> str:
    return base64.b32encode(device.bin_key).decode().rstrip("=")


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        account_services.record_sign_in(now=timezone.now(), user_id=request.user.pk, outcome="signed_out")
    logout(request)
    response = HttpResponseRedirect(reverse("web:login"))
    # Whatever this browser kept of the pages seen while signed in goes too (a shared computer).
    response["Clear-Site-Data"] = '"cache", "storage"'
    return response

"""``tillit demo_code USERNAME``: the current sign-in code of a demo login (demo systems only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tillit.cli.base import TillitCommand


class Command(TillitCommand):
    help = "Print the current TOTP code of a demo staff login (only with TILLIT_DEBUG=true, only demo devices)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def act(self, *, now: dt.datetime, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("demo codes are only available on a demo system (TILLIT_DEBUG=true)")
        device = TOTPDevice.objects.filter(user__username=options["username"], name="demo", confirmed=True).first()
        if device is None:
            raise CommandError(f"no demo login named {options['username']!r} (tillit demo creates them)")
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        self.stdout.write(f"{totp.token():0{device.digits}d}")

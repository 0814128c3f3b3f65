"""Moving the sandbox's date (`:date +20`, "Move" on the page) moves every stand-in's clock, and a
reset brings them back (issue 13 case 1): Stripe checks `expires_at` and settles debits on its
own clock, Telegram dates its messages; a bot days ahead of them is refused or misread."""

from __future__ import annotations

import types
import zoneinfo

from bot.clock import Clock
from bot.sandbox.run import advance_clock, align_clocks
from bot.sandbox.stripe import FakeStripe
from bot.sandbox.telegram import FakeTelegram


def sandbox() -> types.SimpleNamespace:
    runtime = types.SimpleNamespace(clock=Clock(zoneinfo.ZoneInfo("Europe/Paris")))
    box = types.SimpleNamespace(runtime=runtime, stripe=FakeStripe(), telegram=FakeTelegram())
    box.clock = runtime.clock
    return box


def test_moving_the_date_moves_stripe_and_telegram_too():
    box = sandbox()
    stripe_before, telegram_before = box.stripe.now(), box.telegram.wall_clock()
    advance_clock(box, 20)
    assert round(box.stripe.now() - stripe_before) == 20 * 86400
    assert round(box.telegram.wall_clock() - telegram_before) == 20 * 86400
    assert abs(box.stripe.now() - box.clock.timestamp()) < 5


def test_a_reset_brings_every_clock_back_to_today():
    box = sandbox()
    advance_clock(box, 20)
    box.runtime.clock = box.clock = Clock(zoneinfo.ZoneInfo("Europe/Paris"))  # the fresh bot's
    align_clocks(box)
    assert abs(box.stripe.now() - box.clock.timestamp()) < 5
    assert box.telegram.date_offset == 0

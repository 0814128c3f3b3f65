"""Every benchmark starts every stand-in the bot talks to (issue 19): a sandbox without FakeStripe
leaves `ofbot run` on Stripe's public default, which the loopback guard refuses to start."""

from __future__ import annotations

from pathlib import Path

from bench import flood
from bench.loopback import check_environment


async def test_the_flood_benchmark_starts_every_stand_in(tmp_path: Path):
    box = await flood._sandbox()
    try:
        assert box.telegram is not None and box.smtp is not None and box.stripe is not None
        env = box.environment(tmp_path / "ofbot.sqlite3", 10_000)  # raised LeftLoopback before
        check_environment(env)
        assert env["OFBOT_STRIPE_API_URL"] == box.stripe.base_url
        # Telegram's limits as the benchmark states them.
        limits = box.telegram.limits
        assert (limits.chat_rate, limits.chat_burst) == (1, 5)
    finally:
        await box.stop()

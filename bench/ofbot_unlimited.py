"""`ofbot run` without the bot's own overall rate limiter (AIORateLimiter's 30 requests/s), for
measuring the bot's overhead against the echo bot, which has no limiter. Group limits stay.

    python -m bench.ofbot_unlimited   (same environment as `ofbot run`)
"""

from __future__ import annotations

import functools
import sys

from telegram.ext import AIORateLimiter

import bot.app
from bot import cli

if __name__ == "__main__":
    bot.app.AIORateLimiter = functools.partial(AIORateLimiter, overall_max_rate=0)
    sys.exit(cli.main(["run"]))

"""Short versions of bench/resilience.py: `ofbot run` killed with kill -9 five times while people
identify, verify and renew; Bot API faults (5xx, 429) on the bot's calls. Every journey completes,
nothing is created twice, and a 429 is waited out without an apology."""

from __future__ import annotations

from bench.resilience import fault_run, kill_run


async def test_kill_9_five_times_every_journey_completes_once(tmp_path):
    journeys, stats, problems = await kill_run(tmp_path, kills=5, people=3, seed=3)
    assert stats["kills"] == 5
    assert journeys
    incomplete = [" | ".join(j.log[-6:]) for j in journeys if not j.done]
    assert not incomplete, incomplete
    assert problems == []


async def test_bot_api_faults_are_reported_or_retried_and_nothing_is_done_twice(tmp_path):
    faults = [("sendMessage", "500"), ("sendMessage", "429"), ("answerCallbackQuery", "500")]
    results, problems = await fault_run(tmp_path, faults)
    assert problems == []
    for method, kind, journey, duplicates in results:
        assert journey.done, (method, kind, journey.log)
        assert duplicates == 0, (method, kind)
    by_fault = {(m, k): j for m, k, j, _ in results}
    assert by_fault[("sendMessage", "429")].apologies == 0  # retried after retry_after
    assert by_fault[("sendMessage", "500")].apologies == 1  # the user is told, once

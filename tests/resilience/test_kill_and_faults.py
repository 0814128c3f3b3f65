"""Short versions of bench/resilience.py: `ofbot run` killed with kill -9 five times while people
identify, verify, renew and pay (by transfer, by card on FakeStripe while its webhooks hit a
dying bot, or by SEPA debit confirmed days later, each paid link tried a second time); Bot API faults (5xx, 429) and Stripe faults (5xx, connection reset, a late answer) on
the bot's calls. Every journey completes, nothing is created, charged or told twice."""

from __future__ import annotations

from bench.resilience import STRIPE_FAULTS, fault_run, kill_run, stripe_fault_run


async def test_kill_9_five_times_every_journey_completes_once(tmp_path):
    journeys, stats, problems = await kill_run(tmp_path, kills=5, people=4, seed=3)
    assert stats["kills"] == 5
    assert journeys
    incomplete = [" | ".join(j.log[-6:]) for j in journeys if not j.done]
    assert not incomplete, incomplete
    assert problems == []
    card = [j for j in journeys if j.method == "card"]
    assert card and all(j.receipts == 1 for j in card)
    # SEPA debits too: paid three days later, one payment and one receipt each.
    debit = [j for j in journeys if j.method == "debit"]
    assert stats["card"]["payments"] == len(card) + len(debit)
    assert stats["card"]["money_taken_unseen"] == 0
    assert "paid: 0" in stats["reconcile"]  # nothing was left for the operator's reconcile


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


async def test_stripe_faults_give_a_clear_answer_and_nothing_is_created_or_charged_twice(
    tmp_path,
):
    # The late-answer faults wait for the bot's 10 s link deadline: the quick ones only here.
    faults = [f for f in STRIPE_FAULTS if f.kind != "timeout"]
    results, figures, problems = await stripe_fault_run(tmp_path, faults)
    assert problems == []  # one session, one payment, one receipt per journey
    for fault, journey, duplicates in results:
        assert journey.done and journey.receipts == 1, (fault.label, journey.log)
        assert journey.apologies == 0 and duplicates == 0, fault.label
    told = {fault.label: journey.unavailable for fault, journey, _ in results}
    # Stripe keeps a key's 500 and replays it (docs.stripe.com/idempotency): the client's retries
    # get it again; the bot looks for a session made, finds none, and the next key makes one.
    assert told["create 500 ×3 (all the client's tries)"] == 0
    assert told["create 500 ×1"] == 0
    assert figures["payments"] == len(results) == figures["sessions_created"]

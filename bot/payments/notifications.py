"""What a payment tells people: receipts to the club's chats, the line to staff, alerts that need
a person (money to refund), a delayed payment on its way or failed; each receipt recorded once
sent, so a crash never doubles it."""

from __future__ import annotations

import datetime as dt
import logging

from telegram import Bot

from bot import notify
from bot.keyed_locks import KeyedLocks
from bot.payments.on_paid import ON_PAID
from bot.services import Services
from storage import audit, contacts
from storage import clubs as club_rows
from storage import invoices as invoice_rows
from storage import payments as payment_rows
from storage.invoices import Invoice

log = logging.getLogger(__name__)


ANNOUNCED = "invoice.payment_announced"  # audit action: the club said a transfer/cheque is sent


async def announce_sent_by_hand(
    services: Services, bot: Bot, invoice: Invoice, method: str, user_name: str
) -> None:
    """The club says its transfer or cheque is on its way: kept in the audit trail (replacing
    that invoice later warns first), and one line to the staff group, with the /paid command
    to use when it arrives."""
    async with services.db.transaction() as conn:
        await audit.record(
            conn,
            actor=f"club:{invoice.club_id}",
            action=ANNOUNCED,
            club_id=invoice.club_id,
            target=invoice.number,
            after={"method": method},
        )
    if not services.settings.staff_chat_id:
        return
    club = await club_rows.get(services.db, invoice.club_id)
    text = services.texts.render(
        "fr",
        "pay/staff_sent",
        club=club.name,
        subdomain=club.subdomain,
        number=invoice.number,
        amount=invoice.ttc_cents,
        method=method,
        user=user_name,
    )
    await notify.to_staff(services, bot, text, club_id=club.id)


async def announced_payment(services: Services, invoice: Invoice) -> dict | None:
    """The transfer or cheque the club said it sent for `invoice`: {"method", "on" (date)}."""
    entry = await audit.latest(services.db, ANNOUNCED, invoice.number)
    if entry is None or not isinstance(entry["after"], dict):
        return None
    on = dt.date.fromisoformat(str(entry["at"])[:10])
    return {"method": entry["after"].get("method"), "on": on}


async def tell_staff_replaced(services: Services, bot: Bot, old: Invoice, new: Invoice) -> None:
    """`old` was cancelled and replaced by `new` although the club had announced a transfer or
    cheque for it: staff must know, since that money may still arrive for a cancelled invoice."""
    announced = await announced_payment(services, old)
    if announced is None:
        return
    club = await club_rows.get(services.db, old.club_id)
    text = services.texts.render(
        "fr",
        "pay/staff_replaced_announced",
        club=club.name,
        subdomain=club.subdomain,
        old=old.number,
        new=new.number,
        old_amount=old.ttc_cents,
        new_amount=new.ttc_cents,
        method=announced["method"],
        on=announced["on"],
    )
    await notify.to_staff(services, bot, text)


# Payments whose messages are being sent in this process: the start-up replay and a live event
# must not both send them.
_NOTIFYING = KeyedLocks()  # by payment id: one sender of a payment's messages at a time


async def notify_paid(services: Services, bot: Bot, payment_id: int) -> None:
    """Receipts to every active verified contact (each in its language), one line to staff,
    then the kind's `after_commit` hook; the payment is marked notified.

    Each message sent is recorded at once (`payment_rows.record_message_sent`), so a crash in the
    middle sends again only what had not gone (at most the one message in flight is doubled).
    A message Telegram could not take now (flood control, Bot API down) leaves the payment
    unnotified: start-up and the reconcile job send what is missing."""
    async with _NOTIFYING.hold(payment_id):
        await _notify_paid(services, bot, payment_id)


async def _notify_paid(services: Services, bot: Bot, payment_id: int) -> None:
    payment = await payment_rows.get(services.db, payment_id)
    if payment is None or payment.notified_at:
        return
    invoice = await invoice_rows.get(services.db, payment.invoice_id)
    club = await club_rows.get(services.db, invoice.club_id)
    sent = await payment_rows.messages_sent(services.db, payment.id, club.id)
    later = False
    for contact in await contacts.for_club(services.db, invoice.club_id):
        if f"chat:{contact.chat_id}" in sent:
            continue
        lang = contact.language
        text = services.texts.render(
            lang,
            "pay/receipt",
            number=invoice.number,
            amount=invoice.ttc_cents,
            method=payment.method,
            kind=invoice.kind,
            club=club.name,
            ends=club.subscription_ends,
            resources=invoice.resources,
        )
        outcome = await notify.deliver(bot, services, contact.chat_id, text)
        later = later or outcome == "later"
        if outcome == "sent":
            await payment_rows.record_message_sent(
                services.db, payment.id, club.id, f"chat:{contact.chat_id}"
            )
    if services.settings.staff_chat_id and "staff" not in sent:
        text = services.texts.render(
            "fr",
            "pay/staff_paid",
            number=invoice.number,
            amount=invoice.ttc_cents,
            method=payment.method,
            club=club.name,
            subdomain=club.subdomain,
            kind=invoice.kind,
            ends=club.subscription_ends,
            actor=payment.actor,
            by_staff=await notify.staff_name(services, bot, payment.actor),
        )
        outcome = await notify.to_staff(services, bot, text, club_id=club.id)
        later = later or outcome == "later"
        if outcome == "sent":
            await payment_rows.record_message_sent(services.db, payment.id, club.id, "staff")
    hooks = ON_PAID.get(invoice.kind)
    if hooks and hooks.after_commit and "after_commit" not in sent:
        try:
            await hooks.after_commit(services, bot, invoice)
        except Exception:  # a follow-up message must not undo a recorded payment
            log.exception("after-paid hook for %s failed", invoice.number)
        await payment_rows.record_message_sent(services.db, payment.id, club.id, "after_commit")
    if later:
        log.info("payment %s: messages left to send on the next try", payment.id)
        return
    await payment_rows.mark_notified(
        services.db, payment.id, services.clock.now().isoformat(timespec="seconds")
    )


async def staff_alert(
    services: Services, bot: Bot | None, template: str, *, club_id: int | None = None, **values
) -> None:
    """A line to the staff group (the club's topic, in a forum) about a payment that needs a
    person."""
    log.warning("payment alert %s: %s", template, values)
    if bot is None or not services.settings.staff_chat_id:
        return
    text = services.texts.render("fr", template, **values)
    await notify.to_staff(services, bot, text, club_id=club_id)


async def tell_payment_failed(services: Services, bot: Bot | None, invoice: Invoice | None) -> None:
    """A delayed payment (SEPA…) failed: each contact gets the invoice's pay button again (when
    it is still open: paid another way meanwhile, nothing is asked)."""
    if invoice is not None:
        invoice = await invoice_rows.get(services.db, invoice.id)
    if bot is None or invoice is None or not invoice.is_open:
        return
    for contact in await contacts.for_club(services.db, invoice.club_id):
        lang = contact.language
        markup = notify.keyboard(
            services,
            lang,
            [[("pay_invoice", f"pay:{invoice.id}", {"number": invoice.number})]],
        )
        text = services.texts.render(
            lang, "pay/card_failed", number=invoice.number, amount=invoice.ttc_cents
        )
        await notify.deliver(bot, services, contact.chat_id, text, markup)


async def tell_payment_pending(
    services: Services, bot: Bot | None, invoice: Invoice | None
) -> None:
    """A delayed payment (SEPA…) was started: each contact learns it is on its way and that no
    second payment is needed; the receipt follows when it arrives."""
    if bot is None or invoice is None:
        return
    for contact in await contacts.for_club(services.db, invoice.club_id):
        text = services.texts.render(
            contact.language, "pay/card_pending", number=invoice.number, amount=invoice.ttc_cents
        )
        await notify.deliver(bot, services, contact.chat_id, text)


async def alert_overpayment(services: Services, bot: Bot | None, overpayment) -> None:
    """Staff learn money came in that no open invoice asked for, how much and why, with a button
    that refunds it through Stripe (once) when Stripe holds the payment. Sent once; one that
    could not go now is sent by start-up or the reconcile job."""
    invoice = (
        await invoice_rows.get(services.db, overpayment.invoice_id)
        if overpayment.invoice_id
        else None
    )
    # A session for another amount of the invoice's currency was paid less or more than due
    # (integer cents); another currency cannot be compared.
    difference = 0
    if (
        invoice is not None
        and overpayment.reason == "amount_mismatch"
        and overpayment.currency.lower() == invoice.currency.lower()
    ):
        difference = overpayment.amount_cents - invoice.ttc_cents
    log.warning(
        "money to refund %s: %s cents %s (%s%s, %s)",
        overpayment.id,
        overpayment.amount_cents,
        overpayment.currency,
        overpayment.reason,
        f", {-difference} cents less than due"
        if difference < 0
        else f", {difference} cents more than due"
        if difference > 0
        else "",
        overpayment.session_id,
    )
    if bot is None or not services.settings.staff_chat_id or overpayment.alerted_at:
        return
    club = await club_rows.get(services.db, invoice.club_id) if invoice else None
    text = services.texts.render(
        notify.STAFF_LANG,
        "pay/staff_overpaid",
        shortfall=max(-difference, 0),
        excess=max(difference, 0),
        reason=overpayment.reason,
        number=invoice.number if invoice else None,
        club=club.name if club else None,
        expected=invoice.ttc_cents if invoice else None,
        received=overpayment.amount_cents,
        currency=overpayment.currency.upper(),
        session=overpayment.session_id,
        payment_intent=overpayment.payment_intent,
        refundable=refundable(services, overpayment),
    )
    markup = None
    if refundable(services, overpayment):
        markup = notify.keyboard(
            services,
            notify.STAFF_LANG,
            [
                [
                    (
                        "refund",
                        f"refund:{overpayment.id}",
                        {
                            "amount": overpayment.amount_cents,
                            "short": difference < 0,
                            "over": difference > 0,
                        },
                    )
                ]
            ],
        )
    club_id = invoice.club_id if invoice else None
    if await notify.to_staff(services, bot, text, markup, club_id=club_id) == "sent":
        await payment_rows.mark_overpayment_alerted(
            services.db, overpayment.id, services.clock.now().isoformat(timespec="seconds")
        )


def refundable(services: Services, overpayment) -> bool:
    """Stripe can refund it: a client is configured and the money is a PaymentIntent."""
    return bool(
        services.stripe is not None and overpayment.payment_intent and not overpayment.refund_id
    )

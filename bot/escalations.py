"""Requests to staff (SPEC §3.5–3.6, §4): manual password resets and e-mail changes on the record,
billed on First Price, each shown as one card in the staff group that is edited as it moves.

The decisions (`take`, `complete`, `refuse`, `mark_fee_paid`) are database-only and testable without
Telegram; `post_card`, `refresh_card` and `tell_club` are the Telegram side, given a `bot`."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from telegram import Bot, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError

from bot import contacts as contact_service
from bot import invoices, notify, staff_topics
from bot.addresses import normalize_email, same_email, typed_email
from bot.catalogue import Quote, quote_intervention
from bot.services import Services
from storage import audit
from storage import clubs as club_rows
from storage import escalations as rows
from storage import relay as relay_rows
from storage.clubs import Club
from storage.escalations import Escalation

log = logging.getLogger(__name__)

KINDS = ("password_reset", "email_update")
EMAIL_FIELDS = ("structure_email", "contact_email")
STAFF_LANG = "fr"  # the staff group reads French
REFUSAL_TTL = 30 * 60  # seconds a "refuse" waits for its reason


@dataclass(frozen=True)
class Opened:
    """The outcome of a club's confirmation: the request, and whether this call created it."""

    escalation: Escalation
    created: bool
    invoice: Any = None  # the intervention invoice, when the plan bills the intervention


@dataclass(frozen=True)
class Decision:
    """A staff decision: `ok`, or why not (`unknown`, `closed`, `taken`, `fee_due`, `mine`)."""

    ok: bool
    escalation: Escalation | None
    why: str | None = None


class NewEmailProblem(Exception):
    """The new address cannot be requested; `reason` is `invalid` or `same`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def intervention_quote(services: Services, club: Club, kind: str) -> Quote | None:
    """The fee the club would pay for this intervention; None when its plan has it free."""
    return quote_intervention(
        services.catalogue,
        plan_id=club.plan,
        kind=kind,
        country=club.country,
        vat_number=club.vat_number,
    )


def check_new_email(club: Club, field: str, typed: str) -> str:
    """The normalised new address for `field`, or NewEmailProblem."""
    if field not in EMAIL_FIELDS:
        raise ValueError(field)
    address = normalize_email(typed_email(typed))
    if address is None:
        raise NewEmailProblem("invalid")
    if same_email(address, getattr(club, field)):
        raise NewEmailProblem("same")
    return address


async def _issue_fee_invoice(
    services: Services, club: Club, escalation: Escalation, quote: Quote
) -> Any:
    """The escalation's fee invoice through the renewal machinery (one live invoice per
    escalation: asking again returns the same one), linked to the escalation."""
    issued = await invoices.issue_invoice(
        services,
        club_id=club.id,
        kind="intervention",
        quote=quote,
        actor=f"chat:{escalation.chat_id}" if escalation.chat_id else "bot",
        escalation_id=escalation.id,
        subject=escalation.kind,
    )
    if escalation.invoice_id != issued.invoice.id:
        await rows.set_invoice(services.db, escalation.id, issued.invoice.id)
    return issued.invoice


async def request_intervention(
    services: Services,
    club: Club,
    *,
    chat_id: int,
    user_id: int,
    requester: str | None,
    lang: str,
    kind: str,
    email_field: str | None = None,
    new_email: str | None = None,
) -> Opened:
    """Open the request (once per club and subject while it is live) and, when the plan bills
    it, its fee invoice. Confirming twice returns the live request instead of a second one."""
    if kind not in KINDS:
        raise ValueError(kind)
    quote = intervention_quote(services, club, kind)
    existing = await rows.find_live(services.db, club.id, kind, email_field)
    if existing is not None:
        invoice = None
        if existing.fee == "due" and existing.invoice_id is None and quote is not None:
            # The invoice step of that request was interrupted (a crash): finish it now.
            invoice = await _issue_fee_invoice(services, club, existing, quote)
            existing = await rows.get(services.db, existing.id)
        elif existing.fee == "due" and existing.invoice_id is not None:
            invoice = await _find_invoice(services, existing.invoice_id)
        return Opened(existing, created=False, invoice=invoice)
    async with services.db.transaction() as conn:
        escalation_id = await rows.insert(
            conn,
            club_id=club.id,
            chat_id=chat_id,
            user_id=user_id,
            requester=requester,
            lang=lang,
            kind=kind,
            email_field=email_field,
            new_email=new_email,
            fee="due" if quote is not None else "free",
            invoice_id=None,
        )
        if escalation_id is None:  # another contact of the club was quicker
            existing = await rows.find_live(conn, club.id, kind, email_field)
            return Opened(existing, created=False)
        escalation = await rows.get(conn, escalation_id)
        await audit.record(
            conn,
            actor=f"chat:{chat_id}",
            action="escalation.open",
            club_id=club.id,
            target=f"escalation:{escalation_id}",
            after=escalation.as_audit(),
        )
    invoice = None
    if quote is not None:
        invoice = await _issue_fee_invoice(services, club, escalation, quote)
        escalation = await rows.get(services.db, escalation.id)
    return Opened(escalation, created=True, invoice=invoice)


async def _find_invoice(services: Services, invoice_id: int) -> Any:
    return await invoices.find_invoice(services, invoice_id)


async def get_escalation(services: Services, escalation_id: int) -> Escalation | None:
    return await rows.get(services.db, escalation_id)


async def mark_fee_paid(conn, services: Services, invoice: Any) -> Escalation | None:
    """In the payment's transaction: the escalation's fee due → paid, with its audit row.
    Listed in bot/payments/on_paid.py for invoices of kind "intervention"."""
    escalation_id = invoice.escalation_id
    escalation = await rows.get(conn, escalation_id) if escalation_id else None
    if escalation is None or not await rows.mark_paid(conn, escalation.id):
        return None
    await audit.record(
        conn,
        actor=f"invoice:{invoice.number}",
        action="escalation.fee_paid",
        club_id=escalation.club_id,
        target=f"escalation:{escalation.id}",
        before={"fee": escalation.fee},
        after={"fee": "paid", "invoice": invoice.number},
    )
    return await rows.get(conn, escalation.id)


async def take(services: Services, escalation_id: int, staff_id: int, name: str) -> Decision:
    async with services.db.transaction() as conn:
        before = await rows.get(conn, escalation_id)
        if before is None:
            return Decision(False, None, "unknown")
        if not await rows.take(conn, escalation_id, staff_id, name):
            if before.status == "taken":
                why = "mine" if before.taken_by == staff_id else "taken"
            else:
                why = "closed"
            return Decision(False, before, why)
        after = await rows.get(conn, escalation_id)
        await _audit_decision(conn, f"staff:{staff_id}", "escalation.take", before, after)
    return Decision(True, after)


async def complete(services: Services, escalation_id: int, staff_id: int, name: str) -> Decision:
    """Done. For an e-mail change the record changes in the same transaction, with its audit."""
    actor = f"staff:{staff_id}"
    async with services.db.transaction() as conn:
        before = await rows.get(conn, escalation_id)
        if before is None:
            return Decision(False, None, "unknown")
        if not before.live:
            return Decision(False, before, "closed")
        if before.fee == "due":
            return Decision(False, before, "fee_due")
        if not await rows.finish(conn, escalation_id, staff_id, name, status="done"):
            return Decision(False, before, "closed")
        if before.kind == "email_update":
            # Same connection as the open transaction: the read sees what this transaction sees.
            club = await club_rows.get(services.db, before.club_id)
            await club_rows.update_fields(conn, club.id, **{before.email_field: before.new_email})
            await rows.set_old_email(conn, escalation_id, getattr(club, before.email_field))
            await audit.record(
                conn,
                actor=actor,
                action="club.update",
                club_id=club.id,
                target=club.subdomain,
                before={before.email_field: getattr(club, before.email_field)},
                after={before.email_field: before.new_email},
            )
        after = await rows.get(conn, escalation_id)
        await _audit_decision(conn, actor, "escalation.done", before, after)
    return Decision(True, after)


async def refuse(
    services: Services,
    escalation_id: int,
    staff_id: int,
    name: str,
    reason: str,
    *,
    chat_id: int | None = None,
) -> Decision:
    """Refused with the reason staff typed (in `chat_id`, whose pending refusal is settled)."""
    async with services.db.transaction() as conn:
        if chat_id is not None:
            await rows.clear_pending_refusal(conn, staff_id, chat_id)
        before = await rows.get(conn, escalation_id)
        if before is None:
            return Decision(False, None, "unknown")
        if not await rows.finish(
            conn, escalation_id, staff_id, name, status="refused", reason=reason
        ):
            return Decision(False, before, "closed")
        after = await rows.get(conn, escalation_id)
        await _audit_decision(conn, f"staff:{staff_id}", "escalation.refuse", before, after)
    if after.fee == "due" and after.invoice_id is not None:
        # Nothing to pay for a refused request; a paid fee is staff's to settle with the club.
        await invoices.cancel_invoice(services, after.invoice_id, actor=f"staff:{staff_id}")
    return Decision(True, after)


async def _audit_decision(conn, actor: str, action: str, before: Escalation, after: Escalation):
    await audit.record(
        conn,
        actor=actor,
        action=action,
        club_id=before.club_id,
        target=f"escalation:{before.id}",
        before={"status": before.status, "fee": before.fee},
        after={
            "status": after.status,
            "fee": after.fee,
            "taken_by": after.taken_by,
            "closed_by": after.closed_by,
            "refusal_reason": after.refusal_reason,
        },
    )


async def ask_refusal_reason(
    services: Services, escalation_id: int, staff_id: int, chat_id: int, prompt_id: int | None
) -> None:
    """Remember that this staff member's next message in `chat_id` is the reason."""
    async with services.db.transaction() as conn:
        await rows.set_pending_refusal(
            conn,
            staff_user_id=staff_id,
            chat_id=chat_id,
            escalation_id=escalation_id,
            prompt_message_id=prompt_id,
            at=services.clock.timestamp(),
        )


@dataclass(frozen=True)
class PendingRefusal:
    escalation_id: int
    prompt_message_id: int | None


async def pending_refusal(services: Services, staff_id: int, chat_id: int) -> PendingRefusal | None:
    """The request waiting for this staff member's reason in this chat, if any."""
    row = await rows.pending_refusal(services.db, staff_id, chat_id)
    if row is None:
        return None
    if row["created_at"] < services.clock.timestamp() - REFUSAL_TTL:
        # "Refuse" pressed long ago and never answered: today's chat is not that reason.
        async with services.db.transaction() as conn:
            await rows.clear_pending_refusal(conn, staff_id, chat_id)
        return None
    return PendingRefusal(row["escalation_id"], row["prompt_message_id"])


# --- Telegram side: the card and the club's notices ------------------------------------------


def plan_label(services: Services, plan_id: str, lang: str) -> str:
    plan = services.catalogue.plans.get(plan_id) if services.catalogue else None
    return plan.label(lang) if plan else plan_id


async def _invoice_view(services: Services, invoice_id: int | None) -> dict:
    """Number and amount of the fee invoice, for the card (read through bot/invoices.py)."""
    if invoice_id is None:
        return {"invoice": None, "amount": None}
    invoice = await _find_invoice(services, invoice_id)
    if invoice is None:
        return {"invoice": None, "amount": None}
    return {"invoice": invoice.number, "amount": invoice.ttc_cents}


async def card_text(services: Services, escalation: Escalation) -> str:
    club = await club_rows.get(services.db, escalation.club_id)
    fee = await _invoice_view(services, escalation.invoice_id)
    return services.texts.render(
        STAFF_LANG,
        "staff/card",
        id=escalation.id,
        kind=escalation.kind,
        club=club.name,
        subdomain=club.subdomain,
        plan=plan_label(services, club.plan, STAFF_LANG),
        requester=escalation.requester,
        field=escalation.email_field,
        # Once done, the record holds the new address: the card shows the one it replaced.
        old_email=(escalation.old_email or getattr(club, escalation.email_field))
        if escalation.email_field
        else None,
        new_email=escalation.new_email,
        fee=escalation.fee,
        invoice=fee["invoice"],
        amount=fee["amount"],
        status=escalation.status,
        taken_by=escalation.taken_by_name,
        closed_by=escalation.closed_by_name,
        reason=escalation.refusal_reason,
    )


def card_buttons(services: Services, escalation: Escalation) -> InlineKeyboardMarkup | None:
    if not escalation.live:
        return None
    row = []
    if escalation.status == "open":
        row.append(("esc_take", f"esc:take:{escalation.id}"))
    row.append(("esc_done", f"esc:done:{escalation.id}"))
    row.append(("esc_refuse", f"esc:refuse:{escalation.id}"))
    return notify.keyboard(services, STAFF_LANG, [row])


def _digest(text: str, markup: InlineKeyboardMarkup | None) -> str:
    shown = json.dumps([text, markup.to_dict() if markup else None], sort_keys=True)
    return hashlib.sha256(shown.encode()).hexdigest()[:32]


async def post_card(services: Services, bot: Bot, escalation: Escalation) -> int | None:
    """Send the card to the staff group and remember where it is; a staff reply to the card
    reaches the club chat that asked."""
    staff_chat = services.settings.staff_chat_id
    if not staff_chat:
        log.warning("escalation %s: no staff group configured (OFBOT_STAFF_CHAT_ID)", escalation.id)
        return None
    text = await card_text(services, escalation)
    markup = card_buttons(services, escalation)
    try:
        # In the club's topic when the staff group has topics.
        message = await staff_topics.deliver(
            services,
            bot,
            escalation.club_id,
            lambda place: notify.send(
                bot, place.chat_id, text, markup, message_thread_id=place.thread_id
            ),
        )
    except TelegramError as exc:
        # The request is recorded: a card Telegram could not take now is posted later
        # (post_missing_cards, at start-up and every CARD_RETRY_INTERVAL), never lost.
        log.warning("escalation %s: card not posted yet (%s), retried later", escalation.id, exc)
        return None
    # The chat the card landed in: the staff group's new id if Telegram had just migrated it.
    staff_chat = message.chat_id
    await rows.set_card(
        services.db, escalation.id, staff_chat, message.message_id, _digest(text, markup)
    )
    await staff_topics.sync_name(services, bot, escalation.club_id)
    if escalation.chat_id is not None:
        await relay_rows.add_pair(
            services.db,
            staff_chat_id=staff_chat,
            staff_message_id=message.message_id,
            club_chat_id=escalation.chat_id,
            club_message_id=None,
            kind="card",
            escalation_id=escalation.id,
        )
    return message.message_id


# How often live requests without a card are posted again (seconds), first run after start-up.
CARD_RETRY_INTERVAL = 60.0
CARD_RETRY_FIRST = 30.0


async def post_missing_cards(services: Services, bot: Bot) -> int:
    """Post the card of every live request that has none yet (Telegram refused or failed it
    when the request was recorded), and bring up to date a card whose edit failed (the fee paid,
    taken…); returns how many cards were posted now."""
    if not services.settings.staff_chat_id:
        return 0
    posted = 0
    for escalation in await rows.live(services.db):
        if escalation.card_message_id is not None:
            await refresh_card(services, bot, escalation.id)  # nothing sent when it is current
    for escalation in await rows.without_card(services.db):
        fresh = await rows.get(services.db, escalation.id)  # a card may have landed meanwhile
        if fresh is None or fresh.card_message_id is not None or not fresh.live:
            continue
        if await post_card(services, bot, fresh) is None:
            break  # Telegram still refuses: the next run tries again, in order
        posted += 1
    return posted


async def post_missing_cards_on_startup(app) -> None:
    """Start-up hook: cards that could not be posted before a restart go out now."""
    services = app.bot_data["services"]
    try:
        count = await post_missing_cards(services, app.bot)
    except Exception:  # never keeps the bot from starting; the periodic job tries again
        log.exception("posting missing escalation cards at start-up failed")
        return
    if count:
        log.info("posted %s escalation card(s) Telegram had not taken", count)


async def post_missing_cards_job(context) -> None:
    """The periodic job of post_missing_cards."""
    count = await post_missing_cards(context.application.bot_data["services"], context.bot)
    if count:
        log.info("posted %s escalation card(s) Telegram had not taken", count)


async def refresh_card(services: Services, bot: Bot, escalation_id: int) -> None:
    """Edit the card in place to show the request as it is now.

    Nothing is sent when the card already shows it (Telegram refuses an edit that changes
    nothing: "message is not modified"). A card Telegram cannot find any more (the staff group
    was upgraded to a supergroup: its messages stay in the old chat) is posted again."""
    escalation = await rows.get(services.db, escalation_id)
    if escalation is None or escalation.card_message_id is None:
        return
    await staff_topics.sync_name(services, bot, escalation.club_id)  # the topic shows the state
    text = await card_text(services, escalation)
    markup = card_buttons(services, escalation)
    digest = _digest(text, markup)
    if await rows.card_digest(services.db, escalation_id) == digest:
        return
    try:
        await bot.edit_message_text(
            text,
            chat_id=escalation.card_chat_id,
            message_id=escalation.card_message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
        )
    except ChatMigrated:
        if escalation.live:  # the card stayed in the old group: the staff work in the new one
            log.warning("escalation %s: staff group migrated, card posted again", escalation_id)
            await post_card(services, bot, escalation)
        return
    except BadRequest as exc:
        if "not modified" in exc.message.lower():
            await rows.set_card_digest(services.db, escalation_id, digest)
            return
        if "not found" in exc.message.lower() and escalation.live:
            log.warning("escalation %s: card not found (%s), posted again", escalation_id, exc)
            await post_card(services, bot, escalation)
            return
        log.warning("escalation %s: card not refreshed (%s)", escalation_id, exc)
        return
    except TelegramError as exc:
        # Not taken now (a network error, Telegram's 5xx, a flood wait): the stored digest still
        # differs, so post_missing_cards' next run edits it (fee paid, taken, done…).
        log.warning("escalation %s: card not refreshed yet (%s), retried later", escalation_id, exc)
        return
    await rows.set_card_digest(services.db, escalation_id, digest)


async def club_language(services: Services, escalation: Escalation) -> str:
    """The contact's language now (/language may have changed it), else the one at the request."""
    return await contact_service.chat_language(services, escalation.chat_id, escalation.lang)


async def tell_club(services: Services, bot: Bot, escalation: Escalation, event: str) -> None:
    """Tell the club chat how its request moved: `event` is paid, taken, done or refused."""
    if escalation.chat_id is None:
        return  # the contact used /forget
    lang = await club_language(services, escalation)
    text = services.texts.render(
        lang,
        "account/escalation_update",
        id=escalation.id,
        kind=escalation.kind,
        status=escalation.status,
        fee=escalation.fee,
        field=escalation.email_field,
        new_email=escalation.new_email,
        reason=escalation.refusal_reason,
        event=event,
    )
    try:
        await notify.send(bot, escalation.chat_id, text)
    except (Forbidden, BadRequest) as exc:
        log.warning("escalation %s: club chat unreachable (%s)", escalation.id, exc)
    except TelegramError:
        log.exception("escalation %s: could not tell the club", escalation.id)


async def after_fee_paid(services: Services, bot: Bot | None, invoice: Any) -> None:
    """Once the payment is committed: the card shows "paid", the club is told staff can act."""
    if bot is None or not invoice.escalation_id:
        return
    escalation = await rows.get(services.db, invoice.escalation_id)
    if escalation is None or escalation.fee != "paid":
        return
    await refresh_card(services, bot, escalation.id)
    if escalation.live:
        await tell_club(services, bot, escalation, "paid")

"""The hosted checkout page that stands in for Stripe's: the card form, its errors and the redirects.

Telegram success/cancel URLs open the bot; any other one is followed as Stripe would."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.sandbox.stripe.page_text import TEXT, card_error, page_amount, page_language
from bot.sandbox.stripe.rules import TELEGRAM_HOSTS

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _is_telegram(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "tg" or (parts.hostname or "").lower() in TELEGRAM_HOSTS


class CheckoutPageMixin:
    """`/checkout/<session>`: the page, the payment form and the cancel link."""

    def checkout_url(self, session_id: str) -> str:
        return f"{self.base_url or 'http://127.0.0.1'}/checkout/{session_id}"

    def _render(self, status: int, lang: str = "en", **values: Any) -> HTMLResponse:
        """The page in `lang` ("en" or "fr"): its words come from page_text.TEXT."""
        template = self._env.get_template("checkout.html")
        page = template.render(lang=lang, t=TEXT[lang], **values)
        return HTMLResponse(page, status_code=status, headers={"Content-Language": lang})

    @staticmethod
    def _language(request: Request, session: dict | None) -> str:
        locale = session.get("locale") if session is not None else None
        return page_language(locale, request.headers.get("accept-language"))

    def _page_values(self, session: dict, lang: str) -> dict:
        currency = session["currency"]
        return {
            "session_id": session["id"],
            "total": page_amount(session["amount_total"], currency, lang),
            "lines": [
                {
                    "name": item["description"],
                    "quantity": item["quantity"],
                    "amount": page_amount(item["amount_total"], currency, lang),
                }
                for item in self.line_items[session["id"]]
            ],
            "customer_email": session["customer_email"],
            "cancel_href": f"/checkout/{session['id']}/cancel" if session["cancel_url"] else None,
            "debit": self._accepts_debit(session),
        }

    def _closed_page(self, session: dict | None, lang: str = "en") -> HTMLResponse:
        t = TEXT[lang]
        if session is None:
            return self._render(404, lang, state="not_found", title=t["not_found_title"])
        if session["status"] == "complete":
            return self._render(200, lang, state="complete", title=t["complete_title"])
        return self._render(410, lang, state="expired", title=t["expired_title"])

    async def _http_checkout(self, request: Request) -> Response:
        self._ensure_background()
        self.expire_due()
        session = self.sessions.get(request.path_params["session_id"])
        lang = self._language(request, session)
        t = TEXT[lang]
        if session is None or session["status"] != "open":
            response = self._closed_page(session, lang)
            if request.method == "POST" and session is not None:
                response.status_code = 409 if session["status"] == "complete" else 410
            return response
        if request.method == "GET":
            return self._render(
                200,
                lang,
                state="form",
                title=f"{t['pay']} {self._page_values(session, lang)['total']}",
                values={},
                **self._page_values(session, lang),
            )
        # A plain urlencoded form, read without python-multipart (not a dependency here).
        form = dict(
            parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        )
        if "iban" in form:
            if not self.pay_by_debit(
                session["id"], form["iban"], name=form.get("account_holder") or None
            ):
                return self._render(
                    402,
                    lang,
                    state="form",
                    title=f"{t['pay']} {self._page_values(session, lang)['total']}",
                    error=t["iban_refused"],
                    values={},
                    **self._page_values(session, lang),
                )
            return self._after_payment(session, lang)
        fields = {
            k: str(form.get(k) or "") for k in ("card_number", "expiry", "cvc", "name", "email")
        }
        outcome = self.attempt_payment(
            session["id"],
            fields["card_number"],
            exp=fields["expiry"] if "expiry" in form else None,
            cvc=fields["cvc"] if "cvc" in form else None,
            name=fields["name"] or None,
            email=fields["email"] or None,
        )
        if not outcome.ok:
            if outcome.code in ("session_closed", "not_found"):
                return self._closed_page(self.sessions.get(session["id"]), lang)
            fields.pop("cvc")
            return self._render(
                outcome.status,
                lang,
                state="form",
                title=f"{t['pay']} {self._page_values(session, lang)['total']}",
                error=card_error(outcome.message, lang),
                values=fields,
                **self._page_values(session, lang),
            )
        return self._after_payment(session, lang)

    def _after_payment(self, session: dict, lang: str) -> Response:
        t = TEXT[lang]
        target = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        if _is_telegram(target):
            return self._render(
                200,
                lang,
                state="telegram",
                title=t["paid_title"],
                return_url=target,
                total=page_amount(session["amount_total"], session["currency"], lang),
            )
        return RedirectResponse(target, status_code=303)

    async def _http_cancel(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["session_id"])
        lang = self._language(request, session)
        if session is None:
            return self._closed_page(None, lang)
        if not session["cancel_url"]:
            return RedirectResponse(f"/checkout/{session['id']}", status_code=303)
        target = session["cancel_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        if _is_telegram(target):
            return self._render(
                200,
                lang,
                state="cancelled",
                title=TEXT[lang]["cancelled_title"],
                return_url=target,
            )
        return RedirectResponse(target, status_code=303)

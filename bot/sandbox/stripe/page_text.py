"""The checkout page's words in the session's language: Stripe shows its hosted page in the
Checkout Session's `locale`, or the browser's language when it is blank or "auto".

Source: Stripe API reference, Checkout Session `locale` ("If blank or auto, the browser's locale
is used"). The stand-in knows English and French; any other language reads English. Every word a
person sees on the page comes from TEXT (the card form, the SEPA debit form, the errors, the
title), and amounts are written as the language writes them (`page_amount`)."""

from __future__ import annotations

from bot.sandbox.stripe.rules import ZERO_DECIMAL, format_amount

PAGE_LANGUAGES = ("en", "fr")

TEXT = {
    "en": {
        "badge": "Test mode · sandbox",
        "pay": "Pay",
        "summary": "Order summary",
        "items": "Items to pay",
        "item": "Item",
        "qty": "Qty",
        "amount": "Amount",
        "total_due": "Total due",
        "pay_with_card": "Pay with card",
        "email": "Email",
        "card_information": "Card information",
        "card_number": "Card number",
        "test_card": "Test card:",
        "expiry": "Expiry (MM / YY)",
        "cvc": "Security code (CVC)",
        "name": "Name on card",
        "cancel": "Cancel and go back",
        "test_cards": "Test cards",
        "card_ok": "the payment succeeds",
        "card_declined": "the card is declined",
        "card_funds": "insufficient funds",
        "card_any": "Any future expiry date and any 3 digits for the CVC",
        "paid_title": "Payment received — return to Telegram",
        "paid_text": "Your payment of {total} went through. The bot will confirm it in the chat.",
        "cancelled_title": "Payment not made — return to Telegram",
        "cancelled_text": "Nothing was charged. You can come back to this payment from the chat.",
        "return": "Return to Telegram",
        "link": "Link:",
        "complete_title": "This payment is already complete",
        "complete_text": "Nothing more to do here; you can close this page.",
        "expired_title": "This payment link has expired",
        "expired_text": "Ask for a new payment link in the chat.",
        "not_found_title": "Checkout session not found",
        "not_found_text": "Check the link, or ask for a new one in the chat.",
        "page": "Sandbox Checkout",
        "expiry_placeholder": "MM / YY",
        "debit_title": "Or pay by SEPA Direct Debit",
        "iban": "IBAN",
        "test_ibans": "Test IBANs:",
        "iban_paid_later": "paid after 3 days",
        "iban_fails_later": "fails after 3 days",
        "debit_later": "The payment is confirmed later: the bot receives",
        "or": "or",
        "account_holder": "Account holder",
        "authorise_debit": "Authorise the debit of",
        "iban_refused": "This IBAN cannot be debited (use a test IBAN shown below).",
    },
    "fr": {
        "badge": "Mode test · bac à sable",
        "pay": "Payer",
        "summary": "Récapitulatif de la commande",
        "items": "Articles à payer",
        "item": "Article",
        "qty": "Qté",
        "amount": "Montant",
        "total_due": "Total à payer",
        "pay_with_card": "Payer par carte",
        "email": "E-mail",
        "card_information": "Informations de la carte",
        "card_number": "Numéro de carte",
        "test_card": "Carte de test :",
        "expiry": "Date d’expiration (MM / AA)",
        "cvc": "Code de sécurité (CVC)",
        "name": "Nom du titulaire de la carte",
        "cancel": "Annuler et revenir en arrière",
        "test_cards": "Cartes de test",
        "card_ok": "le paiement réussit",
        "card_declined": "la carte est refusée",
        "card_funds": "fonds insuffisants",
        "card_any": "Toute date d’expiration future et 3 chiffres quelconques pour le CVC",
        "paid_title": "Paiement reçu — revenez sur Telegram",
        "paid_text": "Votre paiement de {total} a été accepté. Le bot le confirmera dans la conversation.",
        "cancelled_title": "Paiement non effectué — revenez sur Telegram",
        "cancelled_text": "Rien n’a été débité. Vous pourrez revenir à ce paiement depuis la conversation.",
        "return": "Revenir sur Telegram",
        "link": "Lien :",
        "complete_title": "Ce paiement est déjà effectué",
        "complete_text": "Il n’y a plus rien à faire ici ; vous pouvez fermer cette page.",
        "expired_title": "Ce lien de paiement a expiré",
        "expired_text": "Demandez un nouveau lien de paiement dans la conversation.",
        "not_found_title": "Session de paiement introuvable",
        "not_found_text": "Vérifiez le lien, ou demandez-en un nouveau dans la conversation.",
        "page": "Paiement bac à sable",
        "expiry_placeholder": "MM / AA",
        "debit_title": "Ou payer par prélèvement SEPA",
        "iban": "IBAN",
        "test_ibans": "IBAN de test :",
        "iban_paid_later": "payé au bout de 3 jours",
        "iban_fails_later": "échoue au bout de 3 jours",
        "debit_later": "Le paiement est confirmé plus tard : le bot reçoit",
        "or": "ou",
        "account_holder": "Titulaire du compte",
        "authorise_debit": "Autoriser le prélèvement de",
        "iban_refused": "Cet IBAN ne peut pas être prélevé (utilisez un IBAN de test indiqué ci-dessous).",
    },
}

# The card errors of cards.py as Stripe's French checkout words them.
CARD_ERRORS_FR = {
    "Your card was declined.": "Votre carte a été refusée.",
    "Your card has insufficient funds.": "Les fonds de votre carte sont insuffisants.",
    "Your card has expired.": "Votre carte a expiré.",
    "Your card's security code is incorrect.": "Le code de sécurité de votre carte est incorrect.",
    "An error occurred while processing your card. Try again in a little bit.": (
        "Une erreur est survenue lors du traitement de votre carte. Réessayez dans un instant."
    ),
    "Your card number is incomplete.": "Le numéro de votre carte est incomplet.",
    "Your card number is invalid.": "Le numéro de votre carte n’est pas valide.",
    "Your card's expiration date is incomplete.": (
        "La date d’expiration de votre carte est incomplète."
    ),
    "Your card's expiration year is in the past.": (
        "L’année d’expiration de votre carte est dépassée."
    ),
    "Your card's security code is incomplete.": "Le code de sécurité de votre carte est incomplet.",
}


def page_language(locale: str | None, accept_language: str | None) -> str:
    """ "fr" or "en": the session's `locale` ("fr", "fr-CA"…), else for "auto" or none the
    browser's first language (Accept-Language), else English."""
    wanted = locale if locale and locale != "auto" else (accept_language or "")
    first = wanted.split(",")[0].split(";")[0].strip().lower()
    language = first.split("-")[0]
    return language if language in PAGE_LANGUAGES else "en"


def page_amount(amount: int, currency: str, lang: str) -> str:
    """Integer minor units as the page's language writes them, as Stripe's localised Checkout
    does: French "1 234,56 €", English "€1,234.56" (a currency without a symbol: "1,500 JPY")."""
    if lang == "fr":
        return format_amount(amount, currency)
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        number = f"{amount:,}"
    else:
        units, cents = divmod(amount, 100)
        number = f"{units:,}.{cents:02d}"
    symbol = {"eur": "€", "usd": "$", "gbp": "£"}.get(currency)
    return f"{symbol}{number}" if symbol else f"{number} {currency.upper()}"


def card_error(message: str | None, lang: str) -> str | None:
    if message is None or lang != "fr":
        return message
    return CARD_ERRORS_FR.get(message, message)

"""The texts Fineline itself sends or answers with. Pure: no I/O. None of them markets anything."""

from __future__ import annotations

DEFAULT_FREQUENCY = "Recurring automated msgs"


def confirmation(brand: str, list_name: str, frequency: str = DEFAULT_FREQUENCY) -> str:
    return (f"{brand}: Reply YES to confirm your subscription to {list_name}. {frequency}. "
            "Msg & data rates may apply. Reply HELP for help, STOP to cancel.")


def signup_confirmation(brand: str, purpose: str, frequency: str, *, double: bool) -> str:
    """What a sign-up list answers a keyword or a form with: a double opt-in list asks for Y first."""
    frequency = frequency.rstrip(". ")
    if double:
        return (f"{brand}: Reply Y to confirm you want {purpose}. {frequency}. Msg & data rates may apply. "
                "Reply HELP for help, STOP to cancel.")
    return (f"{brand}: You're subscribed to {purpose}. {frequency}. Msg & data rates may apply. "
            "Reply HELP for help, STOP to cancel.")


def disclosure(brand: str, purpose: str, frequency: str, terms_url: str, privacy_url: str) -> str:
    """The sign-up form's disclosure, beside its consent checkbox; stored exactly with each consent."""
    frequency = frequency.rstrip(". ")
    return (f"By checking this box, I agree to receive recurring automated marketing text messages from {brand} "
            f"({purpose}) at the number provided. Consent is not a condition of purchase. {frequency}. "
            "Msg & data rates may apply. Reply HELP for help, STOP to cancel. "
            f"Terms: {terms_url} Privacy: {privacy_url}")


def check_signup_confirmation(text: str, brand: str, *, double: bool) -> str | None:
    """A sign-up list's own confirmation must still carry the disclosures; the reason if not."""
    required = [brand, "Msg & data rates may apply", "HELP", "STOP"] + (["Y"] if double else [])
    missing = [part for part in required if part.upper() not in text.upper()]
    if missing:
        return "a sign-up list's confirmation text must mention " + ", ".join(repr(m) for m in missing)
    return None


def opted_out(brand: str) -> str:
    return f"{brand}: You are unsubscribed and will receive no more messages. Reply START to resubscribe."


def opted_back_in(brand: str) -> str:
    return f"{brand}: You are resubscribed. Msg & data rates may apply. Reply HELP for help, STOP to opt out."


def confirmed(brand: str) -> str:
    return f"{brand}: Thanks, you're subscribed. Msg & data rates may apply. Reply HELP for help, STOP to opt out."


def help_text(brand: str, contact: str) -> str:
    return f"{brand}: Help at {contact}. Msg & data rates may apply. Reply STOP to opt out."


def check_custom_confirmation(text: str) -> str | None:
    """A list's own confirmation text must still ask for YES and offer STOP; the reason if not."""
    upper = text.upper()
    missing = [word for word in ("YES", "STOP") if word not in upper]
    if missing:
        return f"the confirmation text must mention {' and '.join(missing)} (reply YES to confirm, STOP to cancel)"
    return None

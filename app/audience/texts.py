"""The texts Fineline itself sends or answers with. Pure: no I/O. None of them markets anything."""

from __future__ import annotations

DEFAULT_FREQUENCY = "Recurring automated msgs"


def confirmation(brand: str, list_name: str, frequency: str = DEFAULT_FREQUENCY) -> str:
    return (f"{brand}: Reply YES to confirm your subscription to {list_name}. {frequency}. "
            "Msg & data rates may apply. Reply HELP for help, STOP to cancel.")


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

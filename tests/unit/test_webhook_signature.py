"""app.webhooks.signature answers exactly as twilio's RequestValidator.validate does (it only skips the
second HMAC when the first matches): with and without the default port, tampered, and forged."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from app.errors import Forbidden
from app.webhooks.signature import _genuine, verified

TOKEN = "signature-unit-token"
PARAMS = {"MessageSid": "SM" + "a" * 32, "MessageStatus": "delivered", "To": "+14155550100", "From": "12345"}
URLS = ["https://fineline.example/webhooks/twilio/status?m=msg_1",
        "https://fineline.example:443/webhooks/twilio/status?m=msg_1",
        "http://127.0.0.1:8000/webhooks/twilio/status",
        "http://fineline.example/webhooks/twilio/status"]


@pytest.mark.parametrize("signed", URLS)
@pytest.mark.parametrize("checked", URLS)
@pytest.mark.parametrize("tamper", [None, "params", "token"])
def test_the_same_answer_as_validate(signed, checked, tamper):
    signature = RequestValidator(TOKEN).compute_signature(signed, PARAMS)
    params = {**PARAMS, "MessageStatus": "sent"} if tamper == "params" else PARAMS
    token = "another-token" if tamper == "token" else TOKEN
    expected = RequestValidator(token).validate(checked, params, signature)
    assert _genuine(checked, params, signature, token) is expected


def test_a_url_signed_with_the_default_port_is_accepted_without_it():
    signature = RequestValidator(TOKEN).compute_signature(URLS[1], PARAMS)
    assert verified(URLS[0], PARAMS, signature, TOKEN) == PARAMS


def test_a_forged_signature_is_refused():
    with pytest.raises(Forbidden):
        verified(URLS[0], PARAMS, "bm90IGEgc2lnbmF0dXJl", TOKEN)

"""The carriers' verdict on a sender, from what Twilio reports (app/providers/registration.py)."""

from __future__ import annotations

import pytest

from app.providers import registration as reg

NUMBER = "+14155550123"
SERVICE = "MG" + "a" * 32


def long_code(**overrides):
    fields = dict(service_sid=SERVICE, service_registered=True, campaign_status="VERIFIED",
                  rate_limits={"att": {"mps": 75, "msg_class": "A"}, "tmobile": {"brand_tier": "MID"}},
                  brand_status="APPROVED")
    fields.update(overrides)
    return reg.long_code(NUMBER, **fields)


def test_a_verified_campaign_of_an_approved_brand_clears_a_long_code_with_its_limits():
    verdict = long_code()
    assert verdict.approved and (verdict.mps, verdict.daily_cap) == (75, 10_000)


@pytest.mark.parametrize(
    ("overrides", "status", "words"),
    [
        ({"service_sid": None}, "missing", "in no Messaging Service"),
        ({"campaign_status": None}, "missing", "has no A2P 10DLC campaign"),
        ({"campaign_status": "PENDING"}, "pending", "campaign is pending"),
        ({"campaign_status": "IN_PROGRESS"}, "pending", "in progress"),
        ({"campaign_status": "FAILED"}, "rejected", "campaign of Messaging Service"),
        ({"campaign_status": "SUSPENDED"}, "suspended", "is suspended"),
        ({"brand_status": "IN_REVIEW"}, "pending", "brand is in review"),
        ({"brand_status": "FAILED", "brand_failure": "tax id mismatch"}, "rejected", "tax id mismatch"),
        ({"brand_status": "SUSPENDED"}, "suspended", "brand"),
        ({"brand_status": None}, "pending", "not known yet"),
        ({"service_registered": False}, "pending", "30035"),
    ],
)
def test_anything_short_of_that_is_not_approved_and_says_why(overrides, status, words):
    verdict = long_code(**overrides)
    assert not verdict.approved
    assert verdict.state == status
    assert words in verdict.reason
    assert verdict.action


def test_toll_free_needs_the_newest_verification_approved():
    assert reg.toll_free("+18005550100", []).state == "missing"
    pending = reg.toll_free("+18005550100", [{"status": "IN_REVIEW", "date_updated": "2026-01-02"}])
    assert pending.state == "pending" and "in review" in pending.reason
    rejected = reg.toll_free("+18005550100", [
        {"status": "TWILIO_APPROVED", "date_updated": "2026-01-01"},
        {"status": "TWILIO_REJECTED", "rejection_reason": "opt-in not shown", "error_code": 30489,
         "date_updated": "2026-02-01"}])
    assert rejected.state == "rejected" and "opt-in not shown (error 30489)" in rejected.reason
    assert reg.toll_free("+18005550100", [{"status": "TWILIO_APPROVED", "date_updated": "x"}]).approved


def test_a_pool_is_cleared_only_when_every_number_is():
    good = reg.Registration("approved", "ok", mps=75, daily_cap=2000)
    bad = reg.Registration("pending", "tf pending", "wait")
    assert reg.pool(SERVICE, {"+1": good, "+2": reg.Registration("approved", "ok", mps=12)}).mps == 12
    blocked = reg.pool(SERVICE, {"+1": good, "+2": bad})
    assert blocked.state == "pending" and "+2" in blocked.reason and "+1" not in blocked.reason


def test_registration_applies_by_the_number_s_country():
    assert reg.requires_registration("+14155550123")
    assert reg.requires_registration("+18005550100")
    assert not reg.requires_registration("+16135550123")  # Canada
    assert not reg.requires_registration("+447700900123")
    assert not reg.requires_registration("12345")  # short code: approved when provisioned
    assert not reg.requires_registration("Acme")


def test_daily_cap_by_tier_or_number_and_mps_is_the_strictest_carrier():
    assert reg._limits({"att": {"mps": 4}, "verizon": {"mps": 2}, "tmobile": {"daily_cap": 500}}) == (2, 500)
    assert reg._limits({"tmobile": {"brand_tier": "top"}}) == (None, 200_000)
    assert reg._limits(None) == (None, None)


def test_every_code_that_means_unregistered_is_named():
    for code in (30032, 30034, 30035, 21729, 30899):
        assert code in reg.SENDER_NOT_REGISTERED_CODES

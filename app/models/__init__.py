"""Every ORM class, imported here so Alembic's autogenerate sees the whole schema."""

from app.models.alert import Alert
from app.models.api_key import ApiKey
from app.models.audience import (
    ConsentEvent,
    Disclosure,
    InboundMessage,
    ListKeyword,
    OutboundText,
    SignupLimit,
    Subscriber,
    SubscriberList,
    Subscription,
    Suppression,
)
from app.models.audit_event import AuditEvent
from app.models.campaign import Campaign, CampaignList, Review, TestNumber, TestSend
from app.models.company import CompanySettings
from app.models.conversation import AgentStatus, Conversation, ConversationEvent, Reply
from app.models.idempotency import IdempotencyRecord
from app.models.link import Link, LinkClick
from app.models.message import (
    ContactLedger,
    Message,
    SenderQuota,
    SenderRate,
    StatusCallback,
    StatusCallbackPending,
)
from app.models.segment import Segment
from app.models.sender import Sender
from app.models.user import User

__all__ = [
    "AgentStatus",
    "Alert",
    "ApiKey",
    "AuditEvent",
    "Campaign",
    "CampaignList",
    "CompanySettings",
    "ConsentEvent",
    "ContactLedger",
    "Disclosure",
    "Conversation",
    "ConversationEvent",
    "IdempotencyRecord",
    "InboundMessage",
    "Link",
    "LinkClick",
    "ListKeyword",
    "Message",
    "OutboundText",
    "Reply",
    "Review",
    "Segment",
    "Sender",
    "SenderQuota",
    "SenderRate",
    "SignupLimit",
    "StatusCallback",
    "StatusCallbackPending",
    "Subscriber",
    "SubscriberList",
    "Subscription",
    "Suppression",
    "TestNumber",
    "TestSend",
    "User",
]

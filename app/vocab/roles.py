"""The roles an employee may hold. Every list of roles (the schema, the CLI, the checks) is this one."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    MARKETER = "marketer"
    REVIEWER = "reviewer"
    OPS = "ops"
    AGENT = "agent"  # answers customers in the company inbox

"""A transition table and its check, shared by the lifecycles (senders, campaigns). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping


class IllegalTransition(Exception):
    def __init__(self, noun: str, current: str, target: str, allowed: frozenset[str]):
        listed = ", ".join(sorted(allowed)) or "nothing (it is final)"
        super().__init__(f"a {current} {noun} cannot move to {target}; from {current} it can move to: {listed}")
        self.current, self.target = current, target


class Transitions:
    """``table[state]`` is the set of states ``state`` may move to."""

    def __init__(self, noun: str, table: Mapping[str, frozenset[str]]):
        self.noun, self.table = noun, dict(table)

    def can_move(self, current: str, target: str) -> bool:
        return target in self.table[current]

    def check_move(self, current: str, target: str) -> None:
        if not self.can_move(current, target):
            raise IllegalTransition(self.noun, current, target, self.table[current])

"""Placeholder: checks of this topic are being written."""

from bot.checks.base import Check

CHECKS: tuple[Check, ...] = ()

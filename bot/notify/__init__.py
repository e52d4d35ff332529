"""Notifications: the outbox, its dispatcher, sinks and the digest composer."""

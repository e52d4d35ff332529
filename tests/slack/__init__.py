"""Tests of the Slack app: pure Block Kit builders, parser, listeners."""

"""The Slack face of secbot: the Bolt app, thin listeners and pure Block Kit builders.

Only this package imports slack_bolt / slack_sdk (import-linter enforces it), and even
here the builders under ``blocks/`` stay free of them: they return plain dicts.
"""

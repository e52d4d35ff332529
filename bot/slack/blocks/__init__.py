"""Pure Block Kit builders: data in, plain dicts out.

No I/O, no clock (``now`` and ``tz`` are parameters), no Slack SDK: a builder returns a
message ``{"text": fallback, "blocks": [...]}`` or the App Home view
``{"type": "home", "blocks": [...]}``, always within Slack's limits (see ``common``) and
with every piece of user-controlled text mrkdwn-escaped. Listeners pass messages to
``respond(**message)`` and the home view to ``views_publish(view=...)``.
"""

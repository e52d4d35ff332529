"""``audit [F-123|n]``: the newest audit records, newest first.

Each record is two lines: its number, exact time (in the configured zone), who (a
mention for a Slack user id, else the name, e.g. "system"), the action and the subject;
then the payload as ``key: value`` pairs, cut to one line. The payload was masked before
it was stored; it is still user text (reasons), so it is escaped like any other. Lines
are packed into as few sections as fit Slack's limits (100 records fit comfortably in
50 blocks). The footer points at ``secbot audit verify``: this list shows the records,
it does not prove them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

from bot.audit.views import AuditEntry
from bot.slack.blocks.common import (
    DEFAULT_COMMAND,
    MAX_MESSAGE_BLOCKS,
    Message,
    code,
    context,
    escape,
    header,
    message,
    one_line,
    pack_lines,
    plural,
    section,
    user_ref,
)
from bot.slack.blocks.timefmt import format_absolute

_PAYLOAD_LINE = 400
_VALUE = 200


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(_value(v) for v in value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def payload_text(payload: dict[str, Any]) -> str:
    """``key: value · key: value`` (empty values left out), raw text, one line."""
    parts = [
        f"{key}: {one_line(_value(value), _VALUE)}"
        for key, value in sorted(payload.items())
        if value not in (None, "", [], {})
    ]
    return one_line(" · ".join(parts), _PAYLOAD_LINE)


def entry_lines(entry: AuditEntry, *, tz: tzinfo) -> str:
    """A head line (number, local time, who, action, subject), then the payload line:

    `#42` 2026-11-29 14:05 CET · <@U1> · *silence.add* `F-12`
    cluster: prod · expires_at: 2026-12-06T14:05:00.000000Z · reason: INC-42
    """
    head = (
        f"{code('#' + str(entry.seq))} {escape(format_absolute(entry.at, tz=tz))} · "
        f"{user_ref(entry.actor)} · *{escape(entry.action)}* {code(one_line(entry.subject, 200))}"
    )
    details = payload_text(entry.payload)
    return f"{head}\n{escape(details)}" if details else head


def audit_message(
    entries: Sequence[AuditEntry],
    *,
    tz: tzinfo,
    limit: int,
    subject: str | None = None,
    most: int = 100,
    command: str = DEFAULT_COMMAND,
) -> Message:
    """The records (newest first, as the query returns them) under a header; ``limit``
    is how many were asked for (a full page below ``most`` suggests asking for more)."""
    title = f"Audit log of {subject}" if subject else "Audit log"
    if not entries:
        text = f"No audit records of {code(subject)} yet." if subject else "No audit records yet."
        return message(f"{title}: no records", [header(title), section(text)])
    room = MAX_MESSAGE_BLOCKS - 2  # the header and the footer
    chunks = pack_lines(entry_lines(e, tz=tz) for e in entries)[:room]
    shown = sum(count for _chunk, count in chunks)
    notes = [f"Newest first: {plural(shown, 'record')}."]
    if len(entries) >= limit and limit < most and subject is None:
        notes.append(f"{code(f'{command} audit {most}')} shows up to {most}.")
    notes.append(f"{code('secbot audit verify')} checks that none was altered or removed.")
    fallback = f"{title}: {plural(shown, 'record')}, newest #{entries[0].seq}"
    blocks = [
        header(title),
        *(section(chunk) for chunk, _count in chunks),
        context(" ".join(notes)),
    ]
    return message(fallback, blocks)

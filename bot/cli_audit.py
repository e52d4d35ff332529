"""`secbot audit verify|export`: prove the audit log intact, or copy it out as JSON lines.

``verify`` walks the whole hash chain (streaming) and prints "audit log intact: N
records" (exit 0) or "audit log broken at record #S: <reason>" (exit 1). With
SECBOT_AUDIT_HMAC_KEY set it checks every record's HMAC too; without it, it checks the
hashes and says when HMACs were present but not checked. It also prints the newest hash:
records cut from the end leave a shorter intact chain, so compare that line with an
earlier run. ``export`` writes one JSON object per record (hashes included, so the copy
can be checked elsewhere), oldest first, optionally only those at or after ``--since``.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from bot.errors import UserError

if TYPE_CHECKING:
    from bot.store.db import Engine

_DB_HELP = "Database URL (default: SECBOT_DATABASE_URL)."
EXIT_BROKEN = 1


@click.group()
def audit() -> None:
    """The tamper-evident audit log: verify the chain, export it."""


@audit.command("verify")
@click.option("--db", "db_url", help=_DB_HELP)
def audit_verify(db_url: str | None) -> None:
    """Check every record's hash, link and (with the key) HMAC; name the first broken one."""
    from bot import wiring
    from bot.audit.log import verify

    settings = wiring.settings_for_command()
    engine = wiring.open_store(settings, url=db_url)
    try:
        result = verify(engine, hmac_key=settings.audit_hmac_key_bytes)
    finally:
        engine.dispose()
    if not result.ok:
        click.echo(f"audit log broken at record #{result.first_broken}: {result.reason}")
        sys.exit(EXIT_BROKEN)
    records = "record" if result.count == 1 else "records"
    click.echo(f"audit log intact: {result.count} {records}")
    if result.count:
        click.echo(f"newest record #{result.count}, hash {result.last_hash}")
    if result.hmac_seen and not result.hmac_checked:
        click.echo("HMACs were not checked: SECBOT_AUDIT_HMAC_KEY is not set")


@audit.command("export")
@click.option("--since", "since_text", help="Only records at or after this ISO time (UTC).")
@click.option("--db", "db_url", help=_DB_HELP)
@click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="Write here instead of stdout."
)
def audit_export(since_text: str | None, db_url: str | None, output: Path | None) -> None:
    """Write the records as JSON lines, oldest first."""
    from bot import wiring

    since = parse_since(since_text) if since_text else None
    settings = wiring.settings_for_command()
    engine = wiring.open_store(settings, url=db_url)
    try:
        if output is None:
            _write(engine, since, sys.stdout)
            return
        try:
            with output.open("w", encoding="utf-8") as out:
                count = _write(engine, since, out)
        except OSError as e:
            raise UserError(f"cannot write {output}: {e.strerror or e}") from e
        click.echo(f"wrote {count} audit record(s) to {output}", err=True)
    finally:
        engine.dispose()


def _write(engine: Engine, since: datetime | None, out: TextIO) -> int:
    from bot.audit.log import export
    from bot.store.db import read_scope

    count = 0
    with read_scope(engine) as session:
        for record in export(session, since=since):
            out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count


def parse_since(text: str) -> datetime:
    """An ISO date or time; without a zone it is UTC. UserError when it is neither."""
    try:
        ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"--since {text[:40]!r} is not an ISO time like 2026-11-01 or 2026-11-01T09:00:00Z"
        ) from None
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)

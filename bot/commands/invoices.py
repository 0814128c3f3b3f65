"""`ofbot invoices export --from DATE --to DATE [--output FILE]`: the accounting CSV of the
invoices and credit notes issued in a date range (format in bot/accounting.py)."""

from __future__ import annotations

import sys
from pathlib import Path


async def invoices_export(settings, args) -> int:
    """Write the CSV to --output (atomically) or to standard output; 2 when --from > --to."""
    from bot.accounting import export_invoices
    from storage.db import open_database

    if args.date_from > args.date_to:
        print("ofbot: --from must not be after --to", file=sys.stderr)
        return 2
    db = await open_database(settings.db)
    try:
        text, count = await export_invoices(db, args.date_from, args.date_to)
    finally:
        await db.close()
    data = text.encode("utf-8")
    if args.output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output = Path(args.output)
        partial = output.with_name(output.name + ".partial")
        partial.write_bytes(data)
        partial.replace(output)
        print(f"{count} documents written to {output}", file=sys.stderr)
    return 0

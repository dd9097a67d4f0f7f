"""Stream maps through Meltano: the warehouse never sees the contacts' e-mail addresses."""

from __future__ import annotations

import hashlib

from .helpers import DIVISIONS, Exact, Pipeline


def test_stream_map_hashes_the_email_column_end_to_end(pipeline: Pipeline) -> None:
    pipeline.run("tap-exact-online--hashed-emails", "target-postgres")
    exact = Exact(pipeline.sandbox)

    loaded = {(r["division"], r["id"]): r["email"]
              for r in pipeline.rows("generic_contact", "division, id, email")}
    expected = {
        (division, row["ID"]): hashlib.md5(row["Email"].encode()).hexdigest()
        if row["Email"] else None
        for division in DIVISIONS
        for row in exact.rows("crm/Contacts", "ID,Email", division)
    }
    assert loaded == expected
    assert sum(1 for email in loaded.values() if email) > 10
    assert not any("@" in (email or "") for email in loaded.values())

"""The audit chain: append, verify, and catch every kind of tampering done directly in the database."""

from __future__ import annotations

import asyncio
import itertools
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from soberana.audit.models import GENESIS_HASH
from soberana.audit.schemas import Actor, AuditEvent, Outcome
from soberana.audit.service import AuditLog, entry_hash
from soberana.core.crypto import canonical_json, hmac_sha256_hex, sha256_hex
from soberana.storage.db import Database
from tests.conftest import TEST_SECRET

ALICE = Actor(type="user", id="usr_alice", label="alice@example.org")


@pytest.fixture
def log() -> AuditLog:
    return AuditLog(TEST_SECRET.encode())


async def append_many(db: Database, log: AuditLog, count: int) -> None:
    for i in range(count):
        await log.record(
            db,
            AuditEvent(
                action=f"test.event{i}",
                actor=ALICE,
                org_id="org_a",
                object_type="thing",
                object_id=f"thing_{i}",
                details={"n": i, "text": "Reykjavík"},
            ),
        )


async def verify(db: Database, log: AuditLog, **kwargs: object):  # type: ignore[no-untyped-def]
    async with db.session() as session:
        return await log.verify(session, **kwargs)  # type: ignore[arg-type]


async def tamper(db: Database, *statements: str) -> None:
    """Run SQL as someone with owner rights would: first disable the append-only triggers."""
    async with db.write_session() as session:
        if db.dialect == "postgresql":
            await session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            await session.execute(text("DROP TRIGGER audit_log_no_update"))
            await session.execute(text("DROP TRIGGER audit_log_no_delete"))
        connection = await session.connection()
        for statement in statements:  # raw SQL, as typed into a database console
            await connection.exec_driver_sql(statement)
        await session.commit()


async def test_entries_chain_and_verify(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 5)
    result = await verify(db, log)
    assert result.ok, result.problem
    assert result.entries_checked == 5
    assert result.head_seq == 5

    async with db.session() as session:
        rows = (await session.execute(text("SELECT seq, prev_hash, hash, signature FROM audit_log ORDER BY seq"))).all()
    assert rows[0].prev_hash == GENESIS_HASH
    for earlier, later in itertools.pairwise(rows):
        assert later.prev_hash == earlier.hash
    for row in rows:
        assert row.signature == hmac_sha256_hex(TEST_SECRET.encode(), row.hash)


async def test_hash_is_sha256_of_canonical_content(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 1)
    async with db.session() as session:
        from soberana.audit import repo

        (entry,) = await repo.entries_after(session, 0, 10)
    content = {
        "seq": 1,
        "occurred_at": entry.occurred_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "org_id": "org_a",
        "actor_type": "user",
        "actor_id": "usr_alice",
        "actor_label": "alice@example.org",
        "action": "test.event0",
        "object_type": "thing",
        "object_id": "thing_0",
        "outcome": "success",
        "ip": None,
        "request_id": None,
        "details": canonical_json({"n": 0, "text": "Reykjavík"}),
        "prev_hash": GENESIS_HASH,
    }
    assert entry.hash == sha256_hex(canonical_json(content)) == entry_hash(entry)


async def test_database_refuses_update_and_delete(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 2)
    for statement in ("UPDATE audit_log SET action = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 2"):
        async with db.write_session() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text(statement))
    assert (await verify(db, log)).ok


async def test_verify_names_an_altered_entry(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 6)
    await tamper(db, "UPDATE audit_log SET action = 'test.harmless' WHERE seq = 4")
    result = await verify(db, log)
    assert not result.ok
    assert result.first_broken_seq == 4
    assert "altered" in (result.problem or "")


async def test_verify_names_an_altered_details_field(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 3)
    await tamper(db, """UPDATE audit_log SET details = replace(details, '"n":1', '"n": 1') WHERE seq = 2""")
    result = await verify(db, log)
    assert (result.ok, result.first_broken_seq) == (False, 2)


async def test_verify_names_the_entry_after_a_deleted_one(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 6)
    await tamper(db, "DELETE FROM audit_log WHERE seq = 3")
    result = await verify(db, log)
    assert not result.ok
    assert result.first_broken_seq == 4
    assert "entry 3 was deleted" in (result.problem or "")


async def test_verify_catches_entries_cut_from_the_end(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 5)
    await tamper(db, "DELETE FROM audit_log WHERE seq >= 4")
    result = await verify(db, log)
    assert not result.ok
    assert result.first_broken_seq == 4
    assert "deleted from the end" in (result.problem or "")


async def _forged_row(db: Database, seq: int, prev_hash: str, *, sign_with: bytes) -> str:
    """An INSERT of an entry whose hash is computed correctly, signed with ``sign_with``."""
    from soberana.audit.models import AuditEntry
    from soberana.core.clock import utcnow

    entry = AuditEntry(
        seq=seq,
        occurred_at=utcnow(),
        org_id="org_a",
        actor_type="user",
        actor_id="usr_mallory",
        actor_label="mallory",
        action="api_key.create",
        object_type=None,
        object_id=None,
        outcome="success",
        ip=None,
        request_id=None,
        details="{}",
        prev_hash=prev_hash,
    )
    digest = entry_hash(entry)
    signature = hmac_sha256_hex(sign_with, digest)
    stamp = entry.occurred_at.strftime("%Y-%m-%d %H:%M:%S.%f")
    return (
        "INSERT INTO audit_log (seq, occurred_at, org_id, actor_type, actor_id, actor_label, action, object_type, "
        "object_id, outcome, ip, request_id, details, prev_hash, hash, signature) VALUES "
        f"({seq}, '{stamp}{'+00' if db.dialect == 'postgresql' else ''}', 'org_a', 'user', 'usr_mallory', 'mallory', "
        f"'api_key.create', NULL, NULL, 'success', NULL, NULL, '{{}}', '{prev_hash}', '{digest}', '{signature}')"
    )


async def test_verify_catches_an_inserted_entry_with_a_correct_hash(db: Database, log: AuditLog) -> None:
    """An attacker appends a well-formed entry and moves the head: only the signature gives it away."""
    await append_many(db, log, 3)
    async with db.session() as session:
        head_hash = (await session.execute(text("SELECT hash FROM audit_head"))).scalar_one()
    insert = await _forged_row(db, 4, head_hash, sign_with=b"not-the-server-secret")
    await tamper(db, insert, "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4)")
    result = await verify(db, log)
    assert not result.ok
    assert result.first_broken_seq == 4
    assert "signature" in (result.problem or "")


async def test_verify_catches_an_entry_inserted_in_the_middle(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 4)
    async with db.session() as session:
        hash2 = (await session.execute(text("SELECT hash FROM audit_log WHERE seq = 2"))).scalar_one()
    # Make room after entry 2 by renumbering 3 and 4, relink the old entry 3 to the forged one, and
    # slip the forged entry in as number 3 — even with the server secret to sign it.
    insert = await _forged_row(db, 3, hash2, sign_with=TEST_SECRET.encode())
    forged_hash = insert.rsplit("'", 4)[-4]
    await tamper(
        db,
        "UPDATE audit_log SET seq = seq + 10 WHERE seq >= 3",
        "UPDATE audit_log SET seq = seq - 9 WHERE seq >= 13",
        f"UPDATE audit_log SET prev_hash = '{forged_hash}' WHERE seq = 4",
        insert,
        "UPDATE audit_head SET seq = 5",
    )
    result = await verify(db, log)
    assert not result.ok
    assert result.first_broken_seq == 4  # the old entry 3, renumbered: its content changed under its hash


async def test_verify_catches_an_entry_added_past_the_head(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 2)
    async with db.session() as session:
        head_hash = (await session.execute(text("SELECT hash FROM audit_head"))).scalar_one()
    await tamper(db, await _forged_row(db, 3, head_hash, sign_with=TEST_SECRET.encode()))
    result = await verify(db, log)
    assert not result.ok
    assert result.first_broken_seq == 3


async def test_verify_with_anchor_catches_a_rewritten_log(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 3)
    anchor_result = await verify(db, log)
    anchor = (anchor_result.head_seq, anchor_result.head_hash)
    assert (await verify(db, log, anchor=anchor)).ok
    assert not (await verify(db, log, anchor=(3, "0" * 64))).ok
    assert not (await verify(db, log, anchor=(99, anchor[1]))).ok


async def test_a_different_secret_fails_verification(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 2)
    result = await verify(db, AuditLog(b"another-secret"))
    assert (result.ok, result.first_broken_seq) == (False, 1)


async def test_concurrent_appends_never_fork_the_chain(db: Database, log: AuditLog) -> None:
    """Thirty appends from concurrent transactions (separate connections) give one straight chain."""

    async def one(i: int) -> None:
        await log.record(
            db, AuditEvent(action="test.concurrent", actor=ALICE, outcome=Outcome.SUCCESS, details={"i": i})
        )

    await asyncio.gather(*(one(i) for i in range(30)))
    result = await verify(db, log)
    assert result.ok, result.problem
    assert result.entries_checked == 30
    async with db.session() as session:
        details = (await session.execute(text("SELECT details FROM audit_log"))).scalars().all()
    assert sorted(json.loads(d)["i"] for d in details) == list(range(30))


async def test_verify_reports_progress(db: Database, log: AuditLog) -> None:
    await append_many(db, log, 5)
    seen: list[tuple[int, int]] = []
    async with db.session() as session:
        await log.verify(session, batch_size=2, on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (5, 5)
    assert [done for done, _ in seen] == [2, 4, 5]

"""Run-time enforcement: traffic runs only for a use case the register allows.

Every API key, public assistant (collection) and organisation's staff workspace can be bound to one use
case (:class:`~soberana.governance.models.Binding`). With ``governance_enforcement = "enforce"`` the
gateway and the citizen assistant ask :class:`Enforcer` before each call, and refuse (403) traffic that is

=============================  =====================================================================
code                           when
=============================  =====================================================================
``use_case_unbound``           the key, assistant or workspace is bound to no use case
``use_case_prohibited``        its use case's assessment or approval says prohibited (Art. 5)
``use_case_suspended``         its use case is suspended (the kill switch)
``use_case_retired``           its use case is retired
``use_case_not_approved``      its use case was never approved (draft, in review)
``use_case_review_overdue``    the review date of the approved version has passed
``model_not_approved``         the model asked for is not among the approved version's models
=============================  =====================================================================

each with an audit entry (``governance.traffic.refused``). With ``"warn"`` the call goes through with an
``x-soberana-governance`` header and a ``governance.traffic.warned`` entry. Operators at the command line
and the platform's own work (indexing documents) are not use cases and pass; the citizen assistant is
checked by its collection, not by the gateway.

Each process keeps what it enforces in memory (a dictionary lookup per call). It reloads it when the
register changes: at once in the process that made the change (the change marks it stale when it
commits), within milliseconds in the others when Redis signals it, and in any case within
``governance_check_seconds``, by reading a counter that every change to the register increases.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import event, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from soberana.audit.schemas import ANONYMOUS, AuditEvent, Outcome
from soberana.audit.service import AuditLog
from soberana.auth.principal import Principal
from soberana.core.clock import utcnow
from soberana.errors import UseCaseRefused
from soberana.governance.lifecycle import RUNNING, RiskGroup, Status
from soberana.governance.models import Assessment, Binding, Generation, Supplier, UseCase, UseCaseVersion
from soberana.storage.db import Database
from soberana.storage.signals import Signals

logger = logging.getLogger(__name__)

CHANNEL = "governance"
HEADER = "x-soberana-governance"
SubjectKind = Literal["api_key", "collection", "workspace"]
Mode = Literal["off", "warn", "enforce"]


async def bump_generation(session: AsyncSession) -> None:
    """Count one change to the register, in the transaction that makes it."""
    await session.execute(update(Generation).where(Generation.id == 1).values(value=Generation.value + 1))


class ChangeFeed:
    """Calls its listeners after a transaction that changed the register commits (never before: a
    change rolled back changes nothing)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def noted(self, session: AsyncSession) -> None:
        """Count a change made in ``session``; the listeners hear of it when the session commits."""
        await bump_generation(session)
        sync = session.sync_session
        sync.info["governance_changed"] = True
        if not event.contains(sync, "after_commit", self._committed):
            event.listen(sync, "after_commit", self._committed)
            event.listen(sync, "after_rollback", _rolled_back)

    def _committed(self, session: Session) -> None:
        if session.info.pop("governance_changed", False):
            for listener in self._listeners:
                listener()


def _rolled_back(session: Session) -> None:
    session.info.pop("governance_changed", None)


@dataclass(frozen=True, slots=True)
class Standing:
    """What enforcement needs of one use case: its state and what its approved version allows."""

    use_case_id: str
    org_id: str
    name: str
    status: Status
    prohibited: bool
    models: frozenset[str]
    review_date: dt.date | None
    trained_operators: bool = False  # high-risk, or AIA level III or IV: its operators need the oversight course


@dataclass(frozen=True, slots=True)
class SupplierStanding:
    status: str
    review_date: dt.date | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    generation: int
    bindings: Mapping[tuple[str, str], str]  # (kind, subject id) -> use case id
    standings: Mapping[str, Standing]
    suppliers: Mapping[str, SupplierStanding] = field(default_factory=dict)  # by legal name


#: From this level of Canada's AIA, the operators of a system are trained for it (Appendix C).
TRAINED_OPERATORS_AIA_LEVEL = 3

#: Supplier states whose deployments governed traffic may use.
USABLE_SUPPLIERS = frozenset({"approved", "restricted"})


@dataclass(frozen=True, slots=True)
class Admitted:
    """The register's answer for a call it lets through: the headers to add (a warning) and which
    deployments it may be routed to (``suppliers`` ``None``: any); ``refused`` audit-logs a refusal of the
    call for want of an approved supplier."""

    headers: dict[str, str]
    suppliers: Mapping[str, SupplierStanding] | None = None
    today: dt.date = dt.date.min
    use_case_id: str | None = None
    record: Callable[[Verdict], Awaitable[None]] | None = None

    def allows(self, supplier: str | None, sovereignty: str) -> bool:
        """Whether a deployment may serve the call: one the installation runs itself (no supplier, on its
        own premises), or one of a supplier of the catalogue that is approved or restricted and not overdue
        for review — never a supplier the catalogue does not know (renaming a blocked supplier does not
        unblock it), nor a cloud deployment that names no supplier."""
        if self.suppliers is None:
            return True
        if supplier is None:
            return sovereignty == "on_premises"
        found = self.suppliers.get(supplier)
        return (
            found is not None
            and found.status in USABLE_SUPPLIERS
            and (found.review_date is None or found.review_date >= self.today)
        )

    async def refusal(self, model: str) -> UseCaseRefused:
        """The error for a call no approved supplier's deployment may serve, audit-logged."""
        found = Verdict(
            "supplier_not_approved",
            f"No deployment of {model!r} comes from a supplier the catalogue approves (a blocked, pending or "
            "unlisted supplier, one overdue for review, or a cloud deployment that names none).",
            self.use_case_id,
        )
        if self.record is not None:
            await self.record(found)
        return UseCaseRefused(found.message, code=found.code)


ANY = Admitted({})


@dataclass(frozen=True, slots=True)
class Verdict:
    code: str
    message: str
    use_case_id: str | None


def verdict(
    snapshot: Snapshot, kind: SubjectKind, subject_id: str, model: str | None, today: dt.date
) -> Verdict | None:
    """Why the register does not allow this traffic, or ``None`` when it does."""
    what = {"api_key": "This API key", "collection": "This assistant", "workspace": "Your organisation's workspace"}[
        kind
    ]
    use_case_id = snapshot.bindings.get((kind, subject_id))
    standing = snapshot.standings.get(use_case_id) if use_case_id else None
    if use_case_id is None or standing is None:
        return Verdict(
            "use_case_unbound",
            f"{what} is bound to no approved use case in the register of AI use cases; an administrator binds it.",
            None,
        )
    name = repr(standing.name)
    if standing.prohibited:
        return Verdict(
            "use_case_prohibited", f"The use case {name} is a prohibited practice (EU AI Act Art. 5).", use_case_id
        )
    if standing.status is Status.SUSPENDED:
        return Verdict("use_case_suspended", f"The use case {name} is suspended.", use_case_id)
    if standing.status is Status.RETIRED:
        return Verdict("use_case_retired", f"The use case {name} is retired.", use_case_id)
    if standing.status not in RUNNING:
        return Verdict("use_case_not_approved", f"The use case {name} is not approved yet.", use_case_id)
    if standing.review_date is not None and standing.review_date < today:
        return Verdict(
            "use_case_review_overdue",
            f"The use case {name} was due for review on {standing.review_date.isoformat()}.",
            use_case_id,
        )
    if model is not None and model not in standing.models:
        return Verdict(
            "model_not_approved",
            f"The model {model!r} is not among the models approved for the use case {name}.",
            use_case_id,
        )
    return None


async def load(session: AsyncSession) -> Snapshot:
    """What is enforced now: every binding, and the standing of each use case bound."""
    generation = int(await session.scalar(select(Generation.value).where(Generation.id == 1)) or 0)
    bindings = {(kind, subject): uc for kind, subject, uc in await session.execute(_BINDINGS)}
    rows = await session.execute(
        select(UseCase, UseCaseVersion.fields)
        .outerjoin(
            UseCaseVersion,
            (UseCaseVersion.use_case_id == UseCase.id) & (UseCaseVersion.version == UseCase.approved_version),
        )
        .where(UseCase.id.in_(select(Binding.use_case_id)))
    )
    levels: dict[str, int] = {}
    for use_case_id, result in await session.execute(
        select(Assessment.use_case_id, Assessment.result)
        .where(Assessment.kind == "aia", Assessment.use_case_id.in_(select(Binding.use_case_id)))
        .order_by(Assessment.version)
    ):
        levels[use_case_id] = int((result or {}).get("level") or 0)  # the latest assessment's, read last
    standings: dict[str, Standing] = {}
    for use_case, fields in rows:
        approved = fields or {}
        review = approved.get("review_date")
        standings[use_case.id] = Standing(
            use_case_id=use_case.id,
            org_id=use_case.org_id,
            name=use_case.name,
            status=Status(use_case.status),
            prohibited=RiskGroup.PROHIBITED in (use_case.risk_group, use_case.approved_risk_group),
            models=frozenset(approved.get("models") or ()),
            review_date=dt.date.fromisoformat(review) if review else None,
            trained_operators=RiskGroup.HIGH_RISK in (use_case.risk_group, use_case.approved_risk_group)
            or levels.get(use_case.id, 0) >= TRAINED_OPERATORS_AIA_LEVEL,
        )
    suppliers = {
        name: SupplierStanding(status, review)
        for name, status, review in await session.execute(
            select(Supplier.legal_name, Supplier.status, Supplier.review_date)
        )
    }
    return Snapshot(generation, bindings, standings, suppliers)


_BINDINGS = select(Binding.kind, Binding.subject_id, Binding.use_case_id)


def subject_of(principal: Principal) -> tuple[SubjectKind, str] | None:
    """What a gateway call answers for: the API key it came with, the public assistant the platform answers
    for, or (a signed-in person in the web application) the organisation's workspace. ``None``: not a use
    case (the command line, the platform's own work such as indexing documents)."""
    if principal.kind == "system":  # the platform's own work, or a public assistant's answers
        return ("collection", principal.acting_for) if principal.acting_for else None
    if principal.kind == "cli":
        return None
    if principal.key_id is not None:
        return "api_key", principal.key_id
    return "workspace", principal.org_id or "-"


class Enforcer:
    """The gateway's and the citizen assistant's guard (see the module's description)."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        signals: Signals,
        feed: ChangeFeed,
        *,
        mode: Mode,
        check_seconds: float,
        audit_seconds: float,
    ) -> None:
        self.db = db
        self.audit = audit
        self.signals = signals
        self.mode: Mode = mode
        self.check_seconds = check_seconds
        self.audit_seconds = audit_seconds
        self._snapshot: Snapshot | None = None
        self._stale = True
        self._reloading: asyncio.Lock | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._publishing: set[asyncio.Task[None]] = set()
        self._audited: dict[tuple[str, str, str], tuple[float, int]] = {}
        feed.subscribe(self._changed_here)

    # -- keeping up with the register ------------------------------------------------------------------

    def _changed_here(self) -> None:
        """A change committed in this process: enforced from the next call on, and told to the others."""
        self._stale = True
        with contextlib.suppress(RuntimeError):  # no event loop: a command, no one to tell
            task = asyncio.get_running_loop().create_task(self.signals.publish(CHANNEL))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    def _heard(self) -> None:
        self._stale = True
        if self._wake is not None:
            self._wake.set()

    async def start(self) -> None:
        self._wake = asyncio.Event()
        if self.mode == "off":
            return
        try:
            await self._reload()
        except DBAPIError as exc:  # not migrated yet, or the database is down: the first call retries
            logger.warning("the register could not be loaded for enforcement: %s", type(exc).__name__)
        self.signals.listen(CHANNEL, self._heard)
        self._task = asyncio.create_task(self._watch(), name="soberana-governance")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._publishing):
            with contextlib.suppress(Exception):
                await task

    async def _watch(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.check_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                if self._stale or self._snapshot is None:
                    await self._reload()
                    continue
                async with self.db.session() as session:
                    generation = await session.scalar(select(Generation.value).where(Generation.id == 1))
                if generation != self._snapshot.generation:  # changed by another process
                    self._stale = True
                    await self._reload()
            except Exception:  # keep watching: the next round tries again
                logger.exception("checking the register for changes failed")

    async def _reload(self) -> Snapshot:
        if self._reloading is None:
            self._reloading = asyncio.Lock()
        async with self._reloading:
            if self._stale or self._snapshot is None:
                self._stale = False  # a change committed during the load marks it stale again
                try:
                    async with self.db.session() as session:
                        self._snapshot = await load(session)
                except BaseException:
                    self._stale = True
                    raise
            return self._snapshot

    async def snapshot(self) -> Snapshot:
        """What to enforce now: reloaded first when a change was committed since the last load, or while a
        load is under way (it may hold a change the one in memory does not)."""
        if self._stale or self._snapshot is None or (self._reloading is not None and self._reloading.locked()):
            return await self._reload()
        return self._snapshot

    # -- the checks ------------------------------------------------------------------------------------

    async def admit(self, principal: Principal, model: str) -> Admitted:
        """The gateway's check of one call by ``principal`` to ``model``: raises :class:`UseCaseRefused`
        when enforcing; else what the call may use (enforcing: only approved suppliers' deployments) and
        the warning header when warning."""
        if self.mode == "off":
            return ANY
        subject = subject_of(principal)
        if subject is None:
            return ANY
        return await self._check(*subject, principal.org_id, model, principal)

    async def operators_trained_for(self, principal: Principal) -> str | None:
        """The use case ``principal``'s key (or workspace) is bound to, when its operators need the oversight
        course (high-risk, or AIA level III or IV); ``None`` otherwise."""
        subject = subject_of(principal)
        if subject is None:
            return None
        snapshot = await self.snapshot()
        use_case_id = snapshot.bindings.get(subject)
        standing = snapshot.standings.get(use_case_id) if use_case_id else None
        return standing.name if standing is not None and standing.trained_operators else None

    async def admit_assistant(self, collection_id: str, org_id: str) -> dict[str, str]:
        """The citizen assistant's check of a public collection (its model is the installation's)."""
        if self.mode == "off":
            return {}
        return (await self._check("collection", collection_id, org_id, None, None)).headers

    async def _check(
        self, kind: SubjectKind, subject_id: str, org_id: str | None, model: str | None, principal: Principal | None
    ) -> Admitted:
        try:
            snapshot = await self.snapshot()
        except DBAPIError:
            if self.mode == "enforce" or self._snapshot is None:
                raise  # enforcing, nothing passes unchecked (the error says the service is unavailable)
            snapshot = self._snapshot  # warning only: what was loaded last will do
        today = utcnow().date()
        found = verdict(snapshot, kind, subject_id, model, today)
        if found is None:
            if self.mode != "enforce":
                return ANY

            async def record(refused: Verdict) -> None:
                await self._audit(refused, kind, subject_id, org_id, model, principal, refused=True)

            use_case_id = snapshot.bindings.get((kind, subject_id))
            return Admitted({}, snapshot.suppliers, today, use_case_id, record)
        refused = self.mode == "enforce"
        await self._audit(found, kind, subject_id, org_id, model, principal, refused=refused)
        if refused:
            raise UseCaseRefused(found.message, code=found.code)
        return Admitted({HEADER: f"warn; code={found.code}"})

    async def _audit(
        self,
        found: Verdict,
        kind: SubjectKind,
        subject_id: str,
        org_id: str | None,
        model: str | None,
        principal: Principal | None,
        *,
        refused: bool,
    ) -> None:
        """One entry per subject and reason every ``audit_seconds`` in this process, with how many calls
        it stands for (a client retrying in a loop does not write the audit log in a loop)."""
        key = (kind, subject_id, found.code)
        now = time.monotonic()
        last, unlogged = self._audited.get(key, (float("-inf"), 0))
        if now - last < self.audit_seconds:
            self._audited[key] = (last, unlogged + 1)
            return
        self._audited[key] = (now, 0)
        if len(self._audited) > 10_000:  # bounded: the oldest half goes
            for stale in sorted(self._audited, key=lambda k: self._audited[k][0])[:5_000]:
                del self._audited[stale]
        actor = principal.actor() if principal is not None else None
        details = {"code": found.code, "kind": kind, "subject_id": subject_id, "model": model, "calls": unlogged + 1}
        entry = AuditEvent(
            action="governance.traffic.refused" if refused else "governance.traffic.warned",
            actor=actor if actor is not None else ANONYMOUS,
            outcome=Outcome.DENIED if refused else Outcome.SUCCESS,
            org_id=org_id,
            object_type="governance_use_case" if found.use_case_id else kind,
            object_id=found.use_case_id or subject_id,
            details=details,
        )
        try:
            async with self.db.write_session() as session:
                await self.audit.append(session, entry)
                await session.commit()
        except DBAPIError:  # refusing matters more than recording: the refusal stands, the loss is logged
            logger.exception("the audit entry for refused traffic could not be written")

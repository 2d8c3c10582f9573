"""Which use case each API key, public assistant and staff workspace answers for (what run-time
enforcement checks, see :mod:`~soberana.governance.enforcement`).

A binding joins a subject of an organisation to a use case of the same organisation; one use case per
subject. Administrators of the organisation (or above) set and remove bindings; everyone with the
``governance`` scope who sees the use case reads them. Every change is audit-logged and reaches every
server process like any change to the register.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import NotFound, PermissionDenied, require_id
from soberana.governance.enforcement import SubjectKind
from soberana.governance.models import Binding, UseCase
from soberana.governance.ports import Collections
from soberana.governance.register import RegisterBase
from soberana.storage.db import commit_or_conflict


class Bindings:
    def __init__(self, register: RegisterBase, collections: Collections) -> None:
        self.register = register
        self.db = register.db
        self.admin = register.admin
        self.collections = collections

    @staticmethod
    def _binder(principal: Principal) -> None:
        RegisterBase._administrator(
            principal, "Administrators of the organisation bind keys, assistants and the workspace to use cases."
        )

    async def _subject_org(self, session: AsyncSession, principal: Principal, kind: SubjectKind, subject: str) -> str:
        """The organisation the subject belongs to, if the principal may see it (else 404)."""
        if kind == "api_key":
            require_id(subject, "key", "API key", param="subject_id")
            return (await self.admin.get_key(session, principal, subject)).org_id
        if kind == "collection":
            require_id(subject, "col", "collection", param="subject_id")
            collection = await self.collections.find_collection(session, subject)
            visible = await self.admin.visible_org_ids(session, principal)
            if collection is None or (visible is not None and collection.org_id not in visible):
                raise NotFound(f"No collection {subject!r}.", param="subject_id")  # another's, even public
            return collection.org_id
        require_id(subject, "org", "organisation", param="subject_id")
        visible = await self.admin.visible_org_ids(session, principal)
        if (visible is not None and subject not in visible) or await self.admin.public_organisation(
            session, org_id=subject
        ) is None:
            raise NotFound(f"No organisation with id {subject!r}.", param="subject_id")
        return subject

    async def bind(
        self, principal: Principal, kind: SubjectKind, subject: str, use_case_id: str, origin: Origin
    ) -> Binding:
        """Bind ``subject`` to ``use_case_id`` (replacing any binding it had)."""
        self._binder(principal)
        async with self.db.write_session() as session:
            use_case = await self.register._get(session, principal, use_case_id)
            org_id = await self._subject_org(session, principal, kind, subject)
            if org_id != use_case.org_id:
                raise PermissionDenied(
                    "A key, assistant or workspace is bound to a use case of its own organisation.",
                    code="other_organisation",
                )
            binding = await _binding(session, kind, subject)
            previous = binding.use_case_id if binding is not None else None
            if binding is None:
                binding = Binding(id=new_id("bnd"), org_id=org_id, kind=kind, subject_id=subject)
                session.add(binding)
            binding.use_case_id = use_case.id
            binding.created_by = principal.id
            binding.created_at = utcnow()
            await self._record(session, principal, origin, "bound", use_case, kind, subject, previous)
            await commit_or_conflict(session, "The binding changed meanwhile; try again.")
            return binding

    async def unbind(self, principal: Principal, kind: SubjectKind, subject: str, origin: Origin) -> None:
        self._binder(principal)
        async with self.db.write_session() as session:
            binding = await _binding(session, kind, subject)
            visible = await self.admin.visible_org_ids(session, principal)
            if binding is None or (visible is not None and binding.org_id not in visible):
                raise NotFound(f"No binding for the {kind} {subject!r}.")
            use_case = await session.get(UseCase, binding.use_case_id)
            assert use_case is not None
            await session.delete(binding)
            await self._record(session, principal, origin, "unbound", use_case, kind, subject, use_case.id)
            await session.commit()

    async def list_bindings(self, principal: Principal, *, use_case_id: str | None = None) -> list[Binding]:
        async with self.db.session() as session:
            visible = await self.register._visible(session, principal)
            stmt = select(Binding).order_by(Binding.kind, Binding.subject_id)
            if visible is not None:
                stmt = stmt.where(Binding.org_id.in_(list(visible)))
            if use_case_id is not None:
                await self.register._get(session, principal, use_case_id)
                stmt = stmt.where(Binding.use_case_id == use_case_id)
            return list((await session.scalars(stmt)).all())

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        origin: Origin,
        what: str,
        use_case: UseCase,
        kind: str,
        subject: str,
        previous: str | None,
    ) -> None:
        details = {"kind": kind, "subject_id": subject, "previous_use_case": previous}
        await self.register._record(session, principal, origin, what, use_case, details)


async def _binding(session: AsyncSession, kind: str, subject: str) -> Binding | None:
    stmt = select(Binding).where(Binding.kind == kind, Binding.subject_id == subject).with_for_update()
    return (await session.scalars(stmt)).first()

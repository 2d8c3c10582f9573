"""The catalogue of suppliers (public-private partnerships): who provides the models and services an
installation uses, on what terms — where the data stays, how long it is kept, whether it trains their
models, certifications, sub-processors — and whether they may be used: ``approved``, ``restricted``,
``pending`` or ``blocked``. A supplier whose review date has passed is reported as overdue. With
enforcement on, traffic bound to a use case goes only to deployments of suppliers that are approved or
restricted and not overdue (:class:`~soberana.governance.enforcement.Admitted`).

Suppliers serve the whole installation (deployments are the installation's), so their records are
the installation's too: everyone with the ``governance`` scope reads them; platform administrators keep
them. Every change is audit-logged.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from soberana.auth.principal import Origin, Principal, Scope
from soberana.auth.service import AdminService
from soberana.core.clock import utcnow
from soberana.core.ids import new_id
from soberana.errors import NotFound, PermissionDenied, require_id
from soberana.governance import repo
from soberana.governance.enforcement import ChangeFeed
from soberana.governance.models import Supplier
from soberana.governance.schemas import SupplierChange, SupplierFields
from soberana.storage.db import Database, commit_or_conflict, conflicts_as


class Suppliers:
    def __init__(self, db: Database, admin: AdminService, feed: ChangeFeed) -> None:
        self.db = db
        self.admin = admin
        self.feed = feed  # a supplier's status decides where governed traffic is routed: enforcement reloads

    @staticmethod
    def _keeper(principal: Principal) -> None:
        principal.require(Scope.GOVERNANCE, "The supplier catalogue")
        if not principal.is_platform_admin:
            raise PermissionDenied(
                "Suppliers are the installation's: platform administrators keep the catalogue.",
                code="platform_admin_required",
            )

    async def list_suppliers(self, principal: Principal, *, status: str | None = None) -> list[Supplier]:
        principal.require(Scope.GOVERNANCE, "The supplier catalogue")
        async with self.db.session() as session:
            return await repo.suppliers(session, status=status)

    async def _get(self, session: AsyncSession, supplier_id: str, *, lock: bool = False) -> Supplier:
        require_id(supplier_id, "sup", "supplier")
        found = await session.get(Supplier, supplier_id, with_for_update=lock, populate_existing=lock)
        if found is None:
            raise NotFound(f"No supplier with id {supplier_id!r}.")
        return found

    async def get(self, principal: Principal, supplier_id: str) -> Supplier:
        principal.require(Scope.GOVERNANCE, "The supplier catalogue")
        async with self.db.session() as session:
            return await self._get(session, supplier_id)

    async def create(self, principal: Principal, fields: SupplierFields, origin: Origin) -> Supplier:
        self._keeper(principal)
        now = utcnow()
        supplier = Supplier(id=new_id("sup"), created_at=now, updated_at=now, **_columns(fields))
        message = f"A supplier named {fields.legal_name!r} is in the catalogue already."
        async with self.db.write_session() as session:
            async with conflicts_as(session, message, param="legal_name"):
                session.add(supplier)
                await session.flush()
            await self._record(session, principal, origin, "created", supplier, {"status": supplier.status})
            await commit_or_conflict(session, message, param="legal_name")
            return supplier

    async def change(self, principal: Principal, supplier_id: str, change: SupplierChange, origin: Origin) -> Supplier:
        self._keeper(principal)
        async with self.db.write_session() as session:
            supplier = await self._get(session, supplier_id, lock=True)
            current = SupplierFields.model_validate(supplier, from_attributes=True)
            fields = SupplierFields.model_validate(current.model_dump() | change.model_dump(exclude_unset=True))
            changed = {}
            for name, value in _columns(fields).items():
                if getattr(supplier, name) != value:
                    changed[name] = {"from": _shown(getattr(supplier, name)), "to": _shown(value)}
                    setattr(supplier, name, value)
            if changed:
                supplier.updated_at = utcnow()
                await self._record(session, principal, origin, "changed", supplier, {"fields": changed})
                message = f"A supplier named {fields.legal_name!r} is in the catalogue already."
                await commit_or_conflict(session, message, param="legal_name")
            return supplier

    async def _record(
        self,
        session: AsyncSession,
        principal: Principal,
        origin: Origin,
        what: str,
        supplier: Supplier,
        details: dict[str, object],
    ) -> None:
        await self.feed.noted(session)
        await self.admin.record_change(
            session,
            principal,
            origin,
            action=f"governance.supplier.{what}",
            org_id=None,
            object_type="governance_supplier",
            object_id=supplier.id,
            details=details,
        )


def _columns(fields: SupplierFields) -> dict[str, object]:
    data = fields.model_dump(mode="json")
    data["review_date"] = fields.review_date
    return data


def _shown(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else value

"""Every table of an installation, collected for Alembic autogenerate and the schema-drift test.

Sits at the top of the dependency graph (beside ``web`` and ``cli``) because it imports the models
of every package.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from soberana.audit import models as audit_models
from soberana.auth import models as auth_models
from soberana.evaluations import models as evaluation_models
from soberana.gateway import models as gateway_models
from soberana.governance import models as governance_models
from soberana.knowledge import models as knowledge_models
from soberana.privacy import models as privacy_models
from soberana.storage.base import Base
from soberana.training import models as training_models
from soberana.workspace import models as workspace_models

MODEL_MODULES = (
    audit_models,
    auth_models,
    evaluation_models,
    gateway_models,
    governance_models,
    knowledge_models,
    privacy_models,
    training_models,
    workspace_models,
)


def metadata() -> MetaData:
    """The metadata holding every table (importing the model modules registers them)."""
    return Base.metadata


# Search-index tables created by migrations with types of one database only (FTS5 and its shadow
# tables on SQLite, tsvector and pgvector tables on PostgreSQL); see soberana.knowledge.index.
UNMAPPED_TABLE_PREFIXES = ("knowledge_fts", "knowledge_vectors")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's ``include_object`` hook: leave the unmapped search-index tables out of comparisons."""
    if type_ == "table" and name and name.startswith(UNMAPPED_TABLE_PREFIXES):
        return False
    table = getattr(obj, "table", None)
    table_name = getattr(table, "name", "") or ""
    return not (type_ in ("index", "column", "unique_constraint") and table_name.startswith(UNMAPPED_TABLE_PREFIXES))

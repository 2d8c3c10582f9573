"""Every table of an installation, collected for Alembic autogenerate and the schema-drift test.

Sits at the top of the dependency graph (beside ``web`` and ``cli``) because it imports the models
of every package.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from soberana.audit import models as audit_models
from soberana.auth import models as auth_models
from soberana.gateway import models as gateway_models
from soberana.storage.base import Base

MODEL_MODULES = (audit_models, auth_models, gateway_models)


def metadata() -> MetaData:
    """The metadata holding every table (importing the model modules registers them)."""
    return Base.metadata

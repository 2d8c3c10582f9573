"""The composition root: one platform, the same for the server and the commands, every protection wired."""

from __future__ import annotations

from pathlib import Path

from soberana.settings import Settings
from soberana.wiring import build_platform, retention_purgers
from tests.conftest import TEST_SECRET


def test_every_service_shares_one_data_protection_and_one_list_of_purgers(tmp_path: Path) -> None:
    platform = build_platform(Settings(data_dir=tmp_path, secret_key=TEST_SECRET, demo_models=False))
    # data protection is given to whatever sends texts to models or stores them: never attached later
    assert platform.gateway.service.privacy is platform.privacy
    assert platform.jobs.privacy is platform.privacy
    assert platform.citizens.privacy is platform.privacy
    assert platform.workspace.privacy is platform.privacy
    # every kind of data with a retention period has its purger, for the server and the command alike
    kinds = {p.kind for p in platform.privacy.retention.purgers}
    assert kinds == {"conversations", "workspace_conversations", "usage"}
    assert kinds == {p.kind for p in retention_purgers(platform.audit)}
    # one counter store for quotas and rate limits, one database
    assert platform.gateway.service.counters is platform.counters
    assert platform.knowledge.db is platform.db is platform.jobs.db


def test_routes_find_each_service_by_its_type(tmp_path: Path) -> None:
    from soberana.auth.service import AdminService
    from soberana.gateway.service import GatewayService
    from soberana.knowledge.citizens import CitizenAssistant
    from soberana.wiring import Platform

    platform = build_platform(Settings(data_dir=tmp_path, secret_key=TEST_SECRET, demo_models=False))
    components = platform.components()
    assert components.get(AdminService) is platform.admin
    assert components.get(GatewayService) is platform.gateway.service
    assert components.get(CitizenAssistant) is platform.citizens
    assert components.get(Platform) is platform
    from soberana.governance.service import GovernanceService

    assert components.get(GovernanceService) is platform.governance

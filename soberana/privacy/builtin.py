"""The built-in personal-data detectors, registered like any third-party plugin's."""

from __future__ import annotations

from soberana.plugins import hookimpl, make_plugin_manager
from soberana.privacy.detectors import DetectorRegistry
from soberana.privacy.engine import builtin_detectors


@hookimpl
def register_pii_detectors(registry: DetectorRegistry) -> None:
    for detector in builtin_detectors():
        registry.add(detector)


def detector_registry(*, load_entry_points: bool = True) -> DetectorRegistry:
    """The built-in detectors followed by those of installed plugins (``soberana`` entry points)."""
    import sys

    registry = DetectorRegistry()
    make_plugin_manager([sys.modules[__name__]], load_entry_points=load_entry_points).hook.register_pii_detectors(
        registry=registry
    )
    return registry

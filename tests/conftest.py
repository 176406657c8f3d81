"""Shared test configuration: hypothesis profiles.

"ci" (loaded by default) keeps the suite inside its time budget and is derandomised so that a CI run
is reproducible; "thorough" explores many more examples. Pick one with HYPOTHESIS_PROFILE=thorough.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Solving an SDP per example is slow next to hypothesis' defaults, hence no deadline.
settings.register_profile(
    "ci",
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

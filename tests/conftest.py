"""Shared pytest setup: deterministic hypothesis profiles.

The default profile ("ci") is derandomized, so a green run means the same
thing on every machine and every run. Set HYPOTHESIS_PROFILE=thorough for a
longer, randomized search while developing.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=40,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

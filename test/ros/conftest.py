"""pytest fixture ``ros_build``: the colcon ROS build of this checkout (see ros_harness.py)."""
from __future__ import annotations

import random
import uuid
from pathlib import Path

import pytest
from ros_harness import ROS_BUILD, RosBuild, missing_build_files, require_ros


@pytest.fixture(scope="session")
def ros_build() -> RosBuild:
    """The ROS build of this checkout; skips (or fails with AVS_REQUIRE_ROS) without one."""
    missing = missing_build_files()
    if missing:
        message = ("ROS 2 build absent (run scripts/setup_ros.sh); missing: " + ", ".join(missing))
        if require_ros():
            pytest.fail(message + " [AVS_REQUIRE_ROS is set]", pytrace=False)
        pytest.skip(message)
    python = Path((ROS_BUILD / "python").read_text().strip())
    # Domain ids 1..100 are safe on every platform (0 is the default one, left alone).
    # Sessions that draw the same domain still do not hear each other: topics carry the token.
    return RosBuild(python=python, domain_id=random.SystemRandom().randint(1, 100),
                    token=uuid.uuid4().hex[:8])

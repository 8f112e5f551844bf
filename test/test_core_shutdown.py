"""avs_ros.core.shutdown in a real process: a SIGINT after ignore_interrupts() changes nothing,
one before it raises KeyboardInterrupt as usual."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = r"""
import os, signal, sys, time
from avs_ros.core.shutdown import freeze_heap, ignore_interrupts
# Python's own handler, whatever was inherited: a shell's background job starts with SIGINT
# ignored, and a test run launched that way would otherwise see no KeyboardInterrupt
signal.signal(signal.SIGINT, signal.default_int_handler)
if sys.argv[1] == "ignore":
    ignore_interrupts()
os.kill(os.getpid(), signal.SIGINT)
time.sleep(0.2)
freeze_heap()
print("cleanup finished")
"""


def _run(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT)}, check=False)


def test_sigint_is_ignored_once_cleanup_began():
    done = _run("ignore")
    assert done.returncode == 0 and "cleanup finished" in done.stdout, done.stderr
    assert "KeyboardInterrupt" not in done.stderr


def test_without_it_sigint_interrupts():
    done = _run("plain")
    assert done.returncode != 0 and "KeyboardInterrupt" in done.stderr

"""Process shutdown without a second Ctrl-C turning into a traceback (ROS-free).

A terminal's Ctrl-C signals the whole process group: ``ros2 launch`` and every node it
started. A node whose cleanup (joining its worker, freeing the model, destroying publishers)
is hit by one more SIGINT would get a ``KeyboardInterrupt`` raised inside that cleanup: a
traceback and exit code -2 instead of a clean 0. Once a node has begun to shut down, further
SIGINTs have nothing left to ask, so :func:`ignore_interrupts` ignores them; SIGTERM and
SIGKILL (what ``launch`` sends 5 s and 10 s after a SIGINT that did not end a process) still
do. Pattern: rclpy's demos (``try: spin / except (KeyboardInterrupt,
ExternalShutdownException) / finally: destroy_node(); try_shutdown()``), with the ignore
first in the ``except`` and ``finally`` blocks.
"""
from __future__ import annotations

import signal
import threading


def ignore_interrupts() -> None:
    """Ignore SIGINT from now on in this process (no-op outside the main thread, where
    Python cannot set handlers). Survives rclpy's ``try_shutdown``, which restores the
    previous C-level handler: Python's handler table keeps ``SIG_IGN``."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)

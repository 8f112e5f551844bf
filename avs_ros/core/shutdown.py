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

import gc
import signal
import threading


def ignore_interrupts() -> None:
    """Ignore SIGINT from now on in this process (no-op outside the main thread, where
    Python cannot set handlers). Survives rclpy's ``try_shutdown``, which restores the
    previous C-level handler: Python's handler table keeps ``SIG_IGN``."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def freeze_heap() -> None:
    """Leave the objects alive now out of the garbage collector's work at interpreter exit
    (:func:`gc.freeze`). Call it last, after the node's resources were released: the full
    collections of ``Py_FinalizeEx`` over a heap with PyTorch and OpenCV loaded took 3-5 s
    after Ctrl-C on a busy 2-core machine (gdb: ``finalize_modules`` ->
    ``_PyGC_CollectNoFail``), and ``launch`` escalates to SIGTERM after 5 s. Objects are still
    freed by reference counting and finalizers still run; only cycle detection is skipped,
    which no longer matters for a process about to exit."""
    gc.freeze()

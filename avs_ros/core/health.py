"""Counting bad input, throttling its log lines, and the node's diagnostic status.

A node must survive bad input (ROS_CONVENTIONS.md, the issue): every incident is counted by
kind, logged at most once per ``throttle_s`` per kind (the count suppressed in between is
reported with the next line), and summarised in the ``/diagnostics`` status. ROS-free: the
node turns :class:`DiagnosticReport` into ``diagnostic_msgs/DiagnosticStatus``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: diagnostic levels as in diagnostic_msgs/DiagnosticStatus
OK, WARN, ERROR = 0, 1, 2


class IncidentLog:
    """Counts incidents by kind and decides which ones to log.

    Args:
        throttle_s: shortest interval in s between two log lines of the same kind (0: log all).

    Raises:
        ValueError: negative ``throttle_s``.
    """

    def __init__(self, throttle_s: float = 5.0) -> None:
        if not throttle_s >= 0:
            raise ValueError(f"throttle_s must be >= 0, got {throttle_s!r}")
        self.throttle_s = float(throttle_s)
        self.counts: dict[str, int] = {}
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def record(self, kind: str, now_s: float) -> str | None:
        """Count one incident of ``kind`` at ``now_s`` (s, any monotonic clock).

        Returns:
            None when the line is to be suppressed, else a suffix for the log line: "" or
            " (N more since the last report)".
        """
        self.counts[kind] = self.counts.get(kind, 0) + 1
        last = self._last_logged.get(kind)
        if last is not None and now_s - last < self.throttle_s:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return None
        self._last_logged[kind] = now_s
        more = self._suppressed.pop(kind, 0)
        return f" ({more} more since the last report)" if more else ""


@dataclass(frozen=True)
class DiagnosticReport:
    """Level (:data:`OK`/:data:`WARN`/:data:`ERROR`), one-line message and ordered key/value
    strings for ``diagnostic_msgs/DiagnosticStatus``."""

    level: int
    message: str
    values: list[tuple[str, str]]


def build_report(counters: Mapping[str, int], previous: Mapping[str, int],
                 figures: Mapping[str, float], watched: tuple[str, ...]) -> DiagnosticReport:
    """The status of one diagnostics period.

    Args:
        counters: cumulative counts (frames, drops, audio gaps, bad input ...), in the order
            they are to be listed.
        previous: the counters of the previous report (empty at the first).
        figures: measurements (FPS, latency percentiles in ms ...), listed first, NaN shown as
            "nan" (not measured yet).
        watched: counter names whose increase during the period makes the level WARN.

    Returns:
        WARN naming the counters that rose (with how much), else OK "running".
    """
    rose = [f"{k} +{counters[k] - previous.get(k, 0)}" for k in watched
            if counters.get(k, 0) > previous.get(k, 0)]
    values = [(k, f"{v:.3f}") for k, v in figures.items()]
    values += [(k, str(int(v))) for k, v in counters.items()]
    if rose:
        return DiagnosticReport(WARN, "incidents: " + ", ".join(rose), values)
    return DiagnosticReport(OK, "running", values)


def silence_warning(topic: str, kind: str, seconds: float, our_reliability: str,
                    publisher_reliabilities: list[str]) -> str:
    """The warning for an input that delivered nothing for ``seconds``.

    Args:
        topic, kind: the input's topic and a word for it ("images", "audio").
        our_reliability: the subscription's reliability, "best_effort" or "reliable".
        publisher_reliabilities: the reliability of each publisher on the topic ("reliable",
            "best_effort", ...), as the graph reports it.

    Returns:
        A line naming the topic, the publishers found and, where a best-effort publisher
        meets a reliable subscription (which never connects), the parameter that fixes it.
    """
    line = f"no {kind} received on {topic} for {seconds:.1f} s"
    if not publisher_reliabilities:
        return line + ": nothing publishes there (check the topic name and remappings)"
    line += f": {len(publisher_reliabilities)} publisher(s) there " \
            f"({', '.join(publisher_reliabilities)}), this node subscribes {our_reliability}"
    if our_reliability == "reliable" and any("best" in r for r in publisher_reliabilities):
        line += "; a best-effort publisher never delivers to a reliable subscription: set " \
                "input_reliability:=best_effort"
    return line

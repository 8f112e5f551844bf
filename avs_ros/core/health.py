"""Counting bad input, throttling its log lines, and the node's diagnostic status.

A node must survive bad input (ROS_CONVENTIONS.md, the issue): every incident is counted by
kind, logged at most once per ``throttle_s`` per kind (the count suppressed in between is
reported with the next line), and summarised in the ``/diagnostics`` status. ROS-free: the
node turns :class:`DiagnosticReport` into ``diagnostic_msgs/DiagnosticStatus``.
"""
from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: diagnostic levels as in diagnostic_msgs/DiagnosticStatus
OK, WARN, ERROR = 0, 1, 2


class IncidentLog:
    """Counts incidents by kind and decides which ones to log.

    Log lines are throttled per kind *and* per error template (the text with numbers and
    quoted values blanked), so the count a line reports as suppressed is of that same error:
    "audio chunk contains NaN or Inf samples (187 more since the last report)" means 187 more
    NaN chunks, not 187 other bad_audio errors. At most ``max_templates`` templates are kept per
    kind; further ones share one throttle slot (their line then says "of this kind").

    Args:
        throttle_s: shortest interval in s between two log lines of the same template (0: log
            all).
        max_templates: distinct templates tracked per kind.

    Raises:
        ValueError: negative ``throttle_s`` or ``max_templates < 1``.
    """

    def __init__(self, throttle_s: float = 5.0, max_templates: int = 32) -> None:
        if not throttle_s >= 0:
            raise ValueError(f"throttle_s must be >= 0, got {throttle_s!r}")
        if max_templates < 1:
            raise ValueError(f"max_templates must be >= 1, got {max_templates}")
        self.throttle_s = float(throttle_s)
        self.max_templates = int(max_templates)
        self.counts: dict[str, int] = {}
        self._last_logged: dict[tuple[str, str], float] = {}
        self._suppressed: dict[tuple[str, str], int] = {}
        self._templates: dict[str, set[str]] = {}

    def record(self, kind: str, now_s: float, text: str = "") -> str | None:
        """Count one incident of ``kind`` with message ``text`` at ``now_s`` (s, any monotonic
        clock).

        Returns:
            None when the line is to be suppressed, else a suffix for the log line: "" or
            " (N more since the last report)" (N: suppressed incidents of this kind and
            template) or " (N more of this kind since the last report)" past
            ``max_templates``.
        """
        self.counts[kind] = self.counts.get(kind, 0) + 1
        template = _template(text)
        seen = self._templates.setdefault(kind, set())
        if template not in seen:
            if len(seen) >= self.max_templates:
                template = "\0other"
            seen.add(template)
        key = (kind, template)
        last = self._last_logged.get(key)
        if last is not None and now_s - last < self.throttle_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last_logged[key] = now_s
        more = self._suppressed.pop(key, 0)
        scope = " of this kind" if template == "\0other" else ""
        return f" ({more} more{scope} since the last report)" if more else ""


def _template(text: str) -> str:
    """``text`` with quoted values and numbers blanked: one key per error site."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", str(text))
    return re.sub(r"[-+]?\d[\d.xe+-]*", "N", text)[:200]


def describe(exc: BaseException) -> str:
    """The log text of an exception: the message of our own typed errors (which name what
    arrived and what was expected), "Type: message" for anything else."""
    from .errors import AudioFormatError, ImageFormatError

    if isinstance(exc, (AudioFormatError, ImageFormatError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


class FrameGapCounter:
    """Counts input gaps: a stamp interval longer than ``factor`` times the median of the
    last ``window`` intervals (frames lost in transport, e.g. DDS, or a stalled camera).

    ``factor`` 1.5 (not 2): one lost frame doubles the interval, which a 2x rule would catch
    only when jitter happens to lengthen it. ``missing`` estimates the frames lost:
    round(interval / median) - 1 per gap. Intervals <= 0 (repeated or backwards stamps) are
    ignored; no gap is counted before ``min_intervals`` intervals were seen.

    Raises:
        ValueError: ``factor <= 1`` or ``window < 3``.
    """

    def __init__(self, factor: float = 1.5, window: int = 31, min_intervals: int = 5) -> None:
        if not factor > 1.0:
            raise ValueError(f"factor must be > 1, got {factor!r}")
        if window < 3:
            raise ValueError(f"window must be >= 3 intervals, got {window}")
        self.factor = float(factor)
        self.min_intervals = int(min_intervals)
        self.gaps = 0
        self.missing = 0
        self._intervals: deque[int] = deque(maxlen=window)
        self._last: int | None = None

    def observe(self, stamp_ns: int) -> bool:
        """Record one frame's stamp (ns); True when it ends a gap."""
        last, self._last = self._last, int(stamp_ns)
        if last is None or stamp_ns <= last:
            return False
        interval = int(stamp_ns) - last
        gap = False
        if len(self._intervals) >= self.min_intervals:
            median = float(np.median(self._intervals))
            if interval > self.factor * median:
                gap = True
                self.gaps += 1
                self.missing += max(1, round(interval / median) - 1)
        self._intervals.append(interval)   # always: a changed frame rate becomes the norm
        return gap


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

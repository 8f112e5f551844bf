"""Errors raised by the ROS-free runtime core (:mod:`avs_ros.core`).

Both subclass ValueError so that a node callback can catch one bad message, log the message
text (which names what arrived and what was expected) and carry on with the next one.
"""


class ImageFormatError(ValueError):
    """A raw or compressed image message cannot be decoded: unsupported encoding, a ``step``
    shorter than one row, a data length that does not match ``step * height``, or bytes that
    OpenCV cannot decode."""


class AudioFormatError(ValueError):
    """An audio chunk cannot be decoded: unknown sample format, a byte count that is not a
    whole number of frames, a dtype other than int16/float, a bad sample rate or channel
    count, or non-finite samples."""


class StageError(RuntimeError):
    """One stage of :meth:`Pipeline.process <avs_ros.core.pipeline.Pipeline.process>` failed on
    one frame: ``stage`` names it (a :data:`~avs_ros.core.pipeline.STAGES` entry), the cause is
    chained (``__cause__``) and quoted in the message, so a node counts it by stage and goes
    on."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{stage} failed: {type(cause).__name__}: {cause}")
        self.stage = stage

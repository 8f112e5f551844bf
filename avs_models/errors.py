"""Exceptions raised by avs_models.

Every error names what was wrong and what was expected, so that a running node can log it
and go on, and a user can fix the input without reading the code.
"""


class AVSInputError(ValueError):
    """An image or audio tensor does not match a model's input contract (rank, shape, dtype,
    non-finite values). Subclasses ValueError so generic callers can catch it as such."""


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, unreadable, corrupt, or does not match the model
    (missing or unexpected keys, shape mismatches). Raised before any parameter is changed,
    so the model is never left half-loaded."""


class PresetError(KeyError):
    """An unknown preset name or an option the preset's builder does not accept."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class BackendUnavailable(RuntimeError):
    """A requested inference backend or device is not usable here; the message says what is
    missing and how to install it. Raised at start-up, never as a silent fallback."""

"""Engine errors. The service maps each class to an HTTP status; keep the tree small."""


class EngineError(Exception):
    """The model could not produce a score (load failure, runtime failure)."""


class Overloaded(EngineError):
    """The micro-batcher queue is full; callers should retry later (HTTP 429)."""


class UnsupportedInput(EngineError):
    """The backend cannot score this input, e.g. an image-only document on a text model."""


class InsufficientMemory(EngineError):
    """The weights do not fit on the device, or a batch of one still runs out of memory."""

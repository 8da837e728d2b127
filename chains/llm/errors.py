"""How the LLM fails, whichever provider serves it."""


class LLMUnavailable(RuntimeError):
    """The configured LLM cannot be loaded or reached; the message names the provider."""


class LLMTimeout(TimeoutError):
    """Generation ran past `LLM_TIMEOUT_SECONDS`."""


class LLMContextFull(LLMUnavailable):
    """A prompt and its answer do not fit beside the answers already running."""

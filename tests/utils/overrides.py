"""Every setting the tests change from what `make run` ships, each with its reason.

Tests run the product as a user gets it. A process a test starts (backend, `ragchat`
CLI, worker) gets these and nothing else by default; a test that needs more says so
where it starts the server, with its reason beside it. Nothing here turns a guard off:
the rate limit, body limits and every other default stay as shipped.
"""

from __future__ import annotations

from pathlib import Path

# Built models (the int8 ONNX embedder, GGUFs joined from packages, converted weights) are
# built once per run and shared by every test and process, not rebuilt under each
# temporary DATA_DIR. Set in the test process's own environment (tests/conftest.py), so
# every child inherits it.
SHARED_MODELS_DIR = Path(__file__).resolve().parents[2] / ".pytest_cache" / "ragchat-models"

OVERRIDES: dict[str, str] = {
    # Each test gets its own empty data folder (history, index, job queue): tests never
    # see each other's rows. `isolated(tmp)` fills it in.
    "DATA_DIR": "",
    # Answers are cut at 24 tokens: tests assert on mechanics (streaming, stored history,
    # citations), never on wording, and a full answer only costs time.
    "MAX_NEW_TOKENS": "24",
    # The small model (SmolLM2-135M, 98 MB) instead of the shipped Qwen2.5-Coder-1.5B
    # (1.1 GB): these tests assert on mechanics, and the small model loads in a fraction
    # of a second and answers about ten times faster on 2 cores. Tests of answer quality
    # (bench/answer_quality.py) run the shipped default.
    "LLM_MODEL": "smollm2-135m",
}


def isolated(tmp: Path, **extra: str) -> dict[str, str]:
    """The overrides for a process whose data lives under `tmp`, plus a test's own `extra`."""
    return {**OVERRIDES, "DATA_DIR": str(tmp / "data"), **extra}

"""Which runtime embeds documents: `INGEST_EMBEDDING_BACKEND`, and what `auto` picks."""

from __future__ import annotations

import pytest

from chains import embeddings
from chains.embeddings import cpu_has_native_bf16, ingest_backend
from settings import Settings

CPUINFO = "processor\t: 0\nflags\t\t: fpu sse2 avx2 {extra}\nbugs\t\t: spectre\n"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [("", False), ("avx512f", False), ("avx512_bf16", True), ("amx_tile amx_bf16", True)],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, extra, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra))
    assert cpu_has_native_bf16(cpuinfo) is expected


def test_unreadable_cpuinfo_means_no_bf16(tmp_path):
    assert cpu_has_native_bf16(tmp_path / "missing") is False


@pytest.mark.parametrize(("native", "expected"), [(True, "torch-bf16"), (False, "torch")])
def test_auto_uses_bf16_only_where_the_cpu_has_it(monkeypatch, native, expected):
    monkeypatch.setattr(embeddings, "cpu_has_native_bf16", lambda: native)
    settings = Settings(embedding_backend="torch", _env_file=None)
    assert settings.ingest_embedding_backend == "auto"
    assert ingest_backend(settings) == expected


def test_an_explicit_ingest_backend_wins(monkeypatch):
    monkeypatch.setattr(embeddings, "cpu_has_native_bf16", lambda: True)
    settings = Settings(ingest_embedding_backend="onnx-int8", _env_file=None)
    assert ingest_backend(settings) == "onnx-int8"


def test_unknown_backends_are_refused():
    with pytest.raises(ValueError, match="ingest_embedding_backend"):
        Settings(ingest_embedding_backend="fp8", _env_file=None)


def test_an_empty_models_dir_means_the_default(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELS_DIR", "")
    settings = Settings(data_dir=tmp_path, _env_file=None)
    assert settings.resolved_models_dir == tmp_path / "models"

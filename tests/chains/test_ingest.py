"""Ingest: file discovery and `source` names, loaders and titles, typed --meta, upserts."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from chains.index.local import LocalHybridIndex
from chains.ingest.loaders import discover, load
from chains.ingest.pipeline import (
    delete_source,
    index_stats,
    ingest,
    parse_meta,
    split_document,
    typed_value,
)
from settings import Settings

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
HTML = """<html><head><title>tempfile — Temporary files</title><style>p {}</style>
<script>var secret = 1;</script></head><body><nav>Home | Next</nav>
<div role="main"><h1>tempfile</h1><p>Creates <code>temporary</code> files.</p></div>
<div class="footer">Footer</div></body></html>"""


@pytest.fixture
def library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "library" / "sub").mkdir(parents=True)
    (tmp_path / "library" / "tempfile.html").write_text(HTML)
    (tmp_path / "library" / "sub" / "notes.md").write_text("intro\n\n## Notes heading\n\ntext")
    (tmp_path / "library" / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / "library" / ".hidden.md").write_text("# hidden")
    return tmp_path


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3", 3),
        ("-12", -12),
        ("2.5", 2.5),
        ("1e3", 1000.0),
        ("true", True),
        ("False", False),
        ("en", "en"),
        ("nan", "nan"),
        ("", ""),
        ("3.11.2", "3.11.2"),
    ],
)
def test_meta_values_are_typed(text, value):
    result = typed_value(text)
    assert result == value and type(result) is type(value)


def test_parse_meta_refuses_bad_pairs():
    assert parse_meta(["year=2024", "lang=en", "draft=true", "v=a=b"]) == {
        "year": 2024,
        "lang": "en",
        "draft": True,
        "v": "a=b",
    }
    for bad in (["novalue"], ["=x"], ["source=x"], ["chunk=1"], ["$or=1"]):
        with pytest.raises(ValueError):
            parse_meta(bad)


def test_source_is_the_argument_joined_with_the_path_inside_it(library):
    files, skipped = discover(["library"])
    assert [f.source for f in files] == ["library/sub/notes.md", "library/tempfile.html"]
    assert skipped == ["library/image.png"]
    assert [f.source for f in discover(["library/"])[0]][1] == "library/tempfile.html"
    assert [f.source for f in discover(["library/tempfile.html"])[0]] == ["library/tempfile.html"]
    assert discover([str(library / "library")])[0][1].source == f"{library}/library/tempfile.html"
    with pytest.raises(FileNotFoundError):
        discover(["nope"])


def test_html_drops_scripts_styles_and_navigation(library):
    document = load(Path("library/tempfile.html"))
    assert document.title == "tempfile — Temporary files"
    assert "Creates temporary files." in document.text
    for dropped in ("secret", "Home | Next", "p {}", "Footer"):
        assert dropped not in document.text


def test_titles_fall_back_to_heading_then_file_name(tmp_path):
    (tmp_path / "a.html").write_text("<body><h1>Heading <b>one</b></h1><p>x</p></body>")
    (tmp_path / "b.html").write_text("<body><p>no heading</p></body>")
    (tmp_path / "c.rst").write_text("Intro\n=====\n\ntext")
    (tmp_path / "d.txt").write_text("# not a title in plain text")
    assert load(tmp_path / "a.html").title == "Heading one"
    assert load(tmp_path / "b.html").title == "b.html"
    assert load(tmp_path / "c.rst").title == "Intro"
    assert load(tmp_path / "d.txt").title == "d.txt"
    assert load(SAMPLES / "tutorial" / "venv.md").title == "Virtual Environments and Packages"
    # reST roles and literals are markup, not words of the title
    title = load(SAMPLES / "reference" / "zipfile.rst").title
    assert title == "zipfile --- Work with ZIP archives"


def test_pdf_text_and_title():
    document = load(SAMPLES / "howto" / "sorting.pdf")
    assert document.title == "Sorting HOW TO"
    assert "Sorts are guaranteed to be" in document.text


def test_ingest_writes_chunks_with_metadata_and_replaces_by_source(library):
    settings = Settings(data_dir=library / "data", chunk_size=100, chunk_overlap=10, _env_file=None)
    (library / "library" / "sub" / "notes.md").write_text("## Notes\n\n" + "word " * 100)
    fake = DeterministicFakeEmbedding(size=16)
    report = ingest(
        settings, ["library"], meta={"year": 2024, "draft": False}, embeddings=fake, progress=False
    )
    assert report.files == 2 and report.chunks > 2 and report.chunks_per_second > 0
    index = LocalHybridIndex.open(settings.index_dir)
    hits = index.search(fake.embed_query("x"), "temporary", k=50)
    first = next(h.chunk.metadata for h in hits if h.chunk.source == "library/tempfile.html")
    assert first == {
        "source": "library/tempfile.html",
        "title": "tempfile — Temporary files",
        "chunk": 0,
        "year": 2024,
        "draft": False,
    }
    chunks = sorted(
        h.chunk.metadata["chunk"] for h in hits if h.chunk.source == "library/sub/notes.md"
    )
    assert chunks == list(range(len(chunks))) and len(chunks) > 1

    (library / "library" / "sub" / "notes.md").write_text("## Notes\n\nshort now")
    ingest(settings, ["library/sub/notes.md"], embeddings=fake, progress=False)
    stats = index_stats(settings)
    assert stats["metadata"]["source"]["values"]["library/sub/notes.md"] == 1
    assert delete_source(settings, "library/sub/notes.md") == 1
    assert index_stats(settings)["sources"] == 1


def test_each_chunk_records_its_section_and_never_straddles_two(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data", chunk_size=120, chunk_overlap=20, _env_file=None
    )
    document = tmp_path / "CHANGELOG.md"
    document.write_text(
        "# pnpm\n\n## 12.23.0\n\n### Patch Changes\n\n- Removed the obsolete xmas command.\n\n"
        "## 12.22.0\n\n- Lists projects in dependency order. " + "More words here. " * 12
    )
    loaded = load(document)
    chunks = split_document(loaded.sections, source="c.md", title=loaded.title, settings=settings)
    assert [c.metadata["chunk"] for c in chunks] == list(range(len(chunks)))
    assert chunks[0].metadata["section"] == "12.23.0 › Patch Changes"
    assert {c.metadata["section"] for c in chunks[1:]} == {"12.22.0"} and len(chunks) > 2
    assert "12.22.0" not in chunks[0].text and "xmas" not in chunks[1].text
    assert all(len(c.text) <= 120 for c in chunks)


def test_section_is_set_by_ingest_not_by_meta():
    with pytest.raises(ValueError, match="set by ingest"):
        parse_meta(["section=x"])


def test_cli_ingest_stats_and_delete(library, capsys, monkeypatch):
    import argparse

    import chains.ingest.pipeline
    import ingest_cli

    monkeypatch.setattr(
        chains.ingest.pipeline,
        "get_embeddings",
        lambda settings, backend=None: DeterministicFakeEmbedding(size=8),
    )
    settings = Settings(data_dir=library / "data", _env_file=None)
    parser = argparse.ArgumentParser()
    ingest_cli.register(parser.add_subparsers())

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        return args.handler(args, settings)

    assert run("ingest", "library", "--meta", "year=2024", "--no-progress") == 0
    assert "ingested 2 files" in capsys.readouterr().out
    assert run("stats") == 0
    assert "year: 3 chunks, 1 values: 2024 (3)" in capsys.readouterr().out
    assert run("ingest", "--delete", "library/tempfile.html") == 0
    assert "removed 1 chunks" in capsys.readouterr().out
    assert run("ingest", "library", "--meta", "chunk=1") == 2
    assert "set by ingest itself" in capsys.readouterr().err
    # --rebuild: these files become the whole index; refused when there is nothing to ingest
    assert run("ingest", "--rebuild", "library/sub/notes.md", "--no-progress") == 0
    capsys.readouterr()
    assert run("stats") == 0
    assert "2 chunks from 1 sources" in capsys.readouterr().out  # "intro", then its section
    (library / "empty").mkdir()
    assert run("ingest", "--rebuild", "empty") == 2
    assert "would leave the index empty" in capsys.readouterr().err
    assert run("ingest", "--delete", "x", "--rebuild") == 2


def test_ingest_builds_the_query_model_when_documents_use_another_backend(library, monkeypatch):
    import chains.ingest.pipeline

    calls: list[tuple[str, str | None]] = []

    def fake_embeddings(settings, backend=None):
        calls.append(("load", backend))
        return DeterministicFakeEmbedding(size=8)

    monkeypatch.setattr(chains.ingest.pipeline, "get_embeddings", fake_embeddings)
    monkeypatch.setattr(
        chains.ingest.pipeline, "prepare_query_model", lambda s: calls.append(("prepare", None))
    )
    settings = Settings(data_dir=library / "data", _env_file=None)
    monkeypatch.setattr(
        chains.ingest.pipeline, "ingest_backend", lambda s, sample=None: "torch-bf16"
    )
    ingest(settings, ["library"], progress=False)
    assert calls == [("load", "torch-bf16"), ("prepare", None)]
    calls.clear()
    monkeypatch.setattr(
        chains.ingest.pipeline, "ingest_backend", lambda s, sample=None: "onnx-int8"
    )
    ingest(settings, ["library"], progress=False)
    assert calls == [("load", "onnx-int8")]  # the same model: loading it built it


def test_throughput_leaves_model_loading_out():
    from chains.ingest.pipeline import IngestReport

    report = IngestReport(files=1, chunks=300, seconds=12.0, model_seconds=9.0)
    assert report.chunks_per_second == 100.0
    assert IngestReport(files=0, chunks=0, seconds=0.0).chunks_per_second == 0.0

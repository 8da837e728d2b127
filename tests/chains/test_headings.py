"""Sections and heading paths, per format: what each chunk will say about its place."""

from __future__ import annotations

from pathlib import Path

from chains.ingest.headings import (
    Section,
    markdown_sections,
    rst_sections,
    section_path,
    spanned_path,
    top_level_groups,
)
from chains.ingest.loaders import load
from chains.ingest.pdf_outline import pdf_sections

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

CHANGELOG = """# pnpm

## 12.23.0

This release adds `pnpm edit`.

### Minor Changes

#### Packing and publishing

- Removed platform variants.

```sh
# not a heading: inside a code fence
pnpm pack
```

### Patch Changes

- Removed the obsolete `xmas` command.

## <small>[12.22.0](https://example.org/compare)</small>

- Lists projects in dependency order.
"""


def paths(sections: list[Section]) -> list[tuple[str, ...]]:
    return [s.headings for s in sections]


def test_markdown_heading_paths_follow_levels_and_skip_code_fences():
    sections = markdown_sections(CHANGELOG)
    assert paths(sections) == [
        ("pnpm", "12.23.0"),
        ("pnpm", "12.23.0", "Minor Changes", "Packing and publishing"),
        ("pnpm", "12.23.0", "Patch Changes"),
        ("pnpm", "12.22.0"),  # link and tag markup are not words of a heading
    ]
    # A heading with nothing under it but another heading travels with the next section.
    assert sections[0].text == "# pnpm\n\n## 12.23.0\n\nThis release adds `pnpm edit`."
    assert sections[1].text.startswith("### Minor Changes\n\n#### Packing and publishing\n\n- ")
    assert "# not a heading: inside a code fence" in sections[1].text
    # Blank lines between paragraphs survive: chunking and passages cut at them.
    assert "\n\n```sh" in sections[1].text


def test_markdown_underlined_headings_and_text_before_the_first_heading():
    text = "Preface.\n\nGuide\n=====\n\nIntro.\n\nInstall\n-------\n\nRun it.\n\n- item\n---\n"
    sections = markdown_sections(text)
    assert paths(sections) == [(), ("Guide",), ("Guide", "Install")]
    assert sections[0].text == "Preface."
    assert sections[2].text.startswith("Install\n-------\n\nRun it.")


def test_rst_levels_follow_the_order_adornments_first_appear_in():
    text = (
        "=======\nManual\n=======\n\nAbout.\n\n"
        "Setup\n=====\n\nSteps.\n\nOn Linux\n--------\n\nApt.\n\n"
        ":mod:`zipfile` usage\n====================\n\nZip.\n\n"
        "A table::\n\n    =====  =====\n    a      b\n    =====  =====\n"
    )
    sections = rst_sections(text)
    assert paths(sections) == [
        ("Manual",),
        ("Manual", "Setup"),
        ("Manual", "Setup", "On Linux"),
        ("Manual", "zipfile usage"),
    ]
    assert sections[-1].text.endswith("=====  =====")  # a simple table is not a title


def test_html_headings_h1_to_h6_become_the_path(tmp_path):
    page = (
        "<html><head><title>Release 15.16</title></head><body><nav>Home</nav>"
        "<div role='main'><h1>Release 15.16<a class='headerlink'>¶</a></h1><p>Date: 2026-05-14</p>"
        "<h2>Changes</h2><h3>Fixes <code>libpq</code></h3><p>Fix a buffer overrun.</p>"
        "<h2>Migration</h2><p>No dump needed.</p></div></body></html>"
    )
    (tmp_path / "r.html").write_text(page)
    document = load(tmp_path / "r.html")
    assert document.title == "Release 15.16"
    assert paths(list(document.sections)) == [
        ("Release 15.16",),
        ("Release 15.16", "Changes", "Fixes libpq"),
        ("Release 15.16", "Migration"),
    ]
    assert document.sections[1].text == "Changes\n\nFixes libpq\nFix a buffer overrun."
    assert "\ue000" not in document.text and "¶" not in document.text
    assert [section_path(document.title, s.headings) for s in document.sections] == [
        "",
        "Changes › Fixes libpq",
        "Migration",
    ]


def test_sample_pages_keep_their_text_and_gain_sections():
    json_page = load(SAMPLES / "library" / "json.html")
    assert len(json_page.sections) > 3
    assert any(s.headings[-1] == "Basic Usage" for s in json_page.sections)
    assert "json.dumps" in json_page.text
    zipfile = load(SAMPLES / "reference" / "zipfile.rst")
    assert ("zipfile --- Work with ZIP archives", "ZipFile Objects") in paths(
        list(zipfile.sections)
    )


def test_pdf_outline_entries_start_where_their_title_is_on_the_page():
    pages = ["Guide\nIntro text.\nInstall\nRun the installer.", "More install notes.\nUsage\nRun."]
    outline = [(0, "Guide", 0), (1, "Install", 0), (1, "Usage", 1)]
    sections = pdf_sections(pages, outline)
    assert paths(sections) == [("Guide",), ("Guide", "Install"), ("Guide", "Usage")]
    assert sections[1].text == "Install\nRun the installer.\n\nMore install notes."
    # No outline: one section, pages apart by a blank line as before.
    assert pdf_sections(pages, []) == [Section((), "\n\n".join(pages))]


def test_a_pdf_file_with_an_outline(tmp_path):
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    for words in ("(Setup) Tj 0 -20 Td (Install it.) Tj", "(Usage) Tj 0 -20 Td (Run it.) Tj"):
        page = writer.add_blank_page(300, 300)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        stream = DecodedStreamObject()
        stream.set_data(f"BT /F1 12 Tf 20 250 Td {words} ET".encode())
        page[NameObject("/Contents")] = writer._add_object(stream)
    parent = writer.add_outline_item("Manual", 0)
    writer.add_outline_item("Setup", 0, parent=parent)
    writer.add_outline_item("Usage", 1, parent=parent)
    writer.write(tmp_path / "m.pdf")
    document = load(tmp_path / "m.pdf")
    assert paths(list(document.sections)) == [("Manual", "Setup"), ("Manual", "Usage")]
    assert "Run it." in document.sections[1].text


def test_a_pdf_without_outline_is_one_section():
    document = load(SAMPLES / "howto" / "sorting.pdf")
    assert len(document.sections) == 1 and document.sections[0].headings == ()


def test_section_path_leaves_out_headings_the_title_already_says():
    title = "json — JSON encoder and decoder — Python 3.11 documentation"
    headings = ("json — JSON encoder and decoder", "Basic Usage")
    assert section_path(title, headings) == "Basic Usage"
    assert section_path("pnpm", ("pnpm", "12.23.0", "Patch Changes")) == "12.23.0 › Patch Changes"
    assert section_path("notes.txt", ()) == ""


def test_chunks_are_cut_per_top_level_section_and_labelled_by_what_they_span():
    security = Section(("pnpm", "12.23.0", "Patch Changes", "Security"), "a" * 10)
    lockfile = Section(("pnpm", "12.23.0", "Patch Changes", "Lockfile"), "b" * 10)
    older = Section(("pnpm", "12.22.0"), "c" * 10)
    assert top_level_groups([security, lockfile, older]) == [[security, lockfile], [older]]
    starts = [0, 12]  # joined with a blank line between
    assert spanned_path([security, lockfile], starts, 0, 10) == security.headings
    assert spanned_path([security, lockfile], starts, 12, 22) == lockfile.headings
    assert spanned_path([security, lockfile], starts, 5, 20) == ("pnpm", "12.23.0", "Patch Changes")


RELEASE_NOTES = """# PostgreSQL 15 Release Notes

## E.1. Release 15.20

Release date: 2026-02-12

This release contains a variety of fixes from 15.19.

### E.1.1. Migration to Version 15.20

A dump/restore is not required for those running 15.X.

### E.1.2. Changes

- Fix a crash in logical replication when the publisher restarts (Tom Lane).

## E.2. Release 15.19

Release date: 2025-11-13

### E.2.1. Changes

- Fix something else entirely, with a sentence long enough to matter.
"""


def test_a_date_line_under_a_release_heading_is_recorded_on_every_chunk_of_the_release(tmp_path):
    from chains.ingest.chunking import split_document
    from chains.ingest.headings import date_under, heading_dates
    from settings import Settings

    path = tmp_path / "release-15.md"
    path.write_text(RELEASE_NOTES)
    document = load(path)
    dates = heading_dates(document.sections)
    release = ("PostgreSQL 15 Release Notes", "E.1. Release 15.20")
    assert dates[release] == "Release date: 2026-02-12"
    assert date_under(dates, (*release, "E.1.2. Changes")) == "Release date: 2026-02-12"
    assert date_under(dates, ("PostgreSQL 15 Release Notes",)) == ""
    settings = Settings(data_dir=tmp_path / "data", chunk_size=120, chunk_overlap=0, _env_file=None)
    chunks = split_document(
        document.sections, source="r.md", title=document.title, settings=settings
    )
    fix = next(c for c in chunks if "logical replication" in c.text)
    assert "Release date" not in fix.text
    assert fix.metadata["heading_date"] == "Release date: 2026-02-12"
    other = next(c for c in chunks if "something else" in c.text)
    assert other.metadata["heading_date"] == "Release date: 2025-11-13"


def test_a_paragraph_that_mentions_a_date_is_not_a_date_line():
    from chains.ingest.headings import Section, heading_dates

    long_line = "Since 2026-02-12 the server refuses connections without TLS by default."
    sections = [
        Section(("Notes",), f"## Notes\n\n{long_line}"),
        Section(("Other",), "## Other\n\ntext"),
    ]
    assert heading_dates(sections) == {}

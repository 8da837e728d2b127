"""Find documents on disk and turn each into plain text with a title and its sections.

Formats: Markdown, plain text, reStructuredText, HTML (lxml, navigation and
scripts dropped) and PDF (pypdf). Sections and their heading paths come from
`chains.ingest.headings`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chains.ingest.headings import (
    HTML_MARK,
    Section,
    markdown_sections,
    marked_sections,
    rst_sections,
)
from chains.ingest.pdf_outline import outline_entries, pdf_sections

SUPPORTED_SUFFIXES = frozenset({".md", ".txt", ".rst", ".html", ".htm", ".pdf"})
_DROP_TAGS = ("script", "style", "nav", "noscript", "template", "header", "footer", "form")
_BLOCK_TAGS = (
    "p",
    "div",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "pre",
    "tr",
    "table",
    "dt",
    "dd",
    "br",
    "section",
    "blockquote",
    "article",
    "main",
)
# Navigation, search boxes and Sphinx's "¶" permalinks are not content.
_NOISE_XPATH = (
    "//*[@role='navigation' or @role='search']"
    " | //a[contains(concat(' ', normalize-space(@class), ' '), ' headerlink ')]"
)
# ":mod:`zipfile` --- ..." is shown as "zipfile --- ..." (a title is read by people).
_RST_ROLE = re.compile(r":[\w.:+-]+:`([^`]*)`")
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+<>:._])\1{2,}\s*$")


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest, the `source` name its chunks carry, and what an upload adds to it
    (its own metadata pairs and who added it)."""

    path: Path
    source: str
    meta: dict[str, Any] = field(default_factory=dict)
    added_by: str | None = None


@dataclass(frozen=True)
class LoadedDocument:
    """A document's title and its sections, in order (one untitled section for plain text)."""

    sections: tuple[Section, ...]
    title: str

    @property
    def text(self) -> str:
        return "\n\n".join(section.text for section in self.sections)


def _plain(text: str) -> tuple[Section, ...]:
    return (Section((), text.strip()),) if text.strip() else ()


def discover(paths: list[str | Path]) -> tuple[list[SourceFile], list[str]]:
    """Supported files under `paths` (recursively), and what was skipped.

    `source` is the argument as given joined with the path inside it, with forward
    slashes: `library` gives `library/tempfile.html`; a file gives itself.
    """
    found: list[SourceFile] = []
    skipped: list[str] = []
    for arg in paths:
        root = Path(arg)
        if root.is_file():
            found.append(SourceFile(root, root.as_posix()))
        elif root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                relative = path.relative_to(root)
                name = (Path(root) / relative).as_posix()
                if any(part.startswith(".") for part in relative.parts):
                    continue
                if path.suffix.lower() in SUPPORTED_SUFFIXES:
                    found.append(SourceFile(path, name))
                else:
                    skipped.append(name)
        else:
            raise FileNotFoundError(f"no such file or folder: {arg}")
    return found, skipped


def load(path: Path) -> LoadedDocument:
    """Text and title of one file, by its suffix."""
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        return _load_html(path.read_bytes(), path)
    if suffix == ".pdf":
        return _load_pdf(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    if suffix == ".md":
        return LoadedDocument(tuple(markdown_sections(text)), _markdown_title(text) or path.name)
    if suffix == ".rst":
        return LoadedDocument(tuple(rst_sections(text)), _rst_title(text) or path.name)
    return LoadedDocument(_plain(text), path.name)


def _load_html(data: bytes, path: Path) -> LoadedDocument:
    # lxml directly, not through BeautifulSoup: ingest spent more time building soup trees
    # than in the parser itself. bs4's UnicodeDammit still sniffs the encoding (BOM, meta).
    import lxml.html
    from bs4.dammit import UnicodeDammit
    from lxml.etree import ParserError, strip_elements

    encoding = UnicodeDammit(data, ["utf-8"], is_html=True).original_encoding or "utf-8"
    parser = lxml.html.HTMLParser(encoding=encoding, remove_comments=True, remove_pis=True)
    try:
        root = lxml.html.document_fromstring(data, parser=parser)
    except ParserError:  # nothing but whitespace
        return LoadedDocument((), path.name)
    title_tag = root.find(".//title")
    title = " ".join(title_tag.text_content().split()) if title_tag is not None else ""
    strip_elements(root, *_DROP_TAGS, with_tail=False)
    for tag in root.xpath(_NOISE_XPATH):
        tag.drop_tree()
    main, body = root.xpath("//main | //*[@role='main']"), root.find("body")
    body = main[0] if main else body if body is not None else root
    if not title:
        headings = body.xpath(".//h1 | .//h2 | .//h3")
        title = " ".join(headings[0].text_content().split()) if headings else path.name
    # Block elements end a line; inline ones (code, links) keep the sentence together.
    for tag in body.iter(*_BLOCK_TAGS):
        tag.tail = "\n" + (tag.tail or "")
    # A heading's line starts with a mark and its level, read back by marked_sections.
    for tag in body.iter("h1", "h2", "h3", "h4", "h5", "h6"):
        tag.text = f"\n{HTML_MARK}{tag.tag[1]}" + (tag.text or "").lstrip()
    lines = (re.sub(r"[ \t\xa0]+", " ", line).strip() for line in body.text_content().splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return LoadedDocument(tuple(marked_sections(text)), title.replace("¶", "").strip())


def _load_pdf(path: Path) -> LoadedDocument:
    from pypdf import PdfReader

    reader = PdfReader(path)
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    meta_title = reader.metadata.title if reader.metadata else None
    sections = pdf_sections(pages, outline_entries(reader))
    return LoadedDocument(tuple(sections), (meta_title or "").strip() or path.name)


def _markdown_title(text: str) -> str:
    for line in text.splitlines():
        match = re.match(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", line)
        if match:
            return match.group(1).strip()
    return ""


def _rst_title(text: str) -> str:
    lines = text.splitlines()
    for i in range(len(lines) - 1):
        line, under = lines[i].strip(), lines[i + 1].rstrip()
        overline = i > 0 and _RST_UNDERLINE.match(lines[i - 1].rstrip())
        if line and _RST_UNDERLINE.match(under) and (overline or len(under) >= len(line)):
            return _RST_ROLE.sub(r"\1", line).replace("``", "")
    return ""

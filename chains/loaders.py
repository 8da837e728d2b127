"""Find documents on disk and turn each into plain text with a title.

Formats: Markdown, plain text, reStructuredText, HTML (BeautifulSoup, navigation and
scripts dropped) and PDF (pypdf).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

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
_RST_UNDERLINE = re.compile(r"^([=\-~^\"'`#*+<>:._])\1{2,}\s*$")


@dataclass(frozen=True)
class SourceFile:
    """A file to ingest and the `source` name its chunks carry."""

    path: Path
    source: str


@dataclass(frozen=True)
class LoadedDocument:
    text: str
    title: str


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
        return LoadedDocument(text, _markdown_title(text) or path.name)
    if suffix == ".rst":
        return LoadedDocument(text, _rst_title(text) or path.name)
    return LoadedDocument(text, path.name)


def _load_html(data: bytes, path: Path) -> LoadedDocument:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    for tag in soup.select('[role="navigation"], [role="search"], a.headerlink'):
        tag.decompose()
    body = soup.find("main") or soup.find(attrs={"role": "main"}) or soup.body or soup
    if not title:
        heading = body.find(["h1", "h2", "h3"])
        title = heading.get_text(" ", strip=True) if heading else path.name
    # Block elements end a line; inline ones (code, links) keep the sentence together.
    for tag in body.find_all(_BLOCK_TAGS):
        tag.insert_after("\n")
    lines = (re.sub(r"[ \t\xa0]+", " ", line).strip() for line in body.get_text().splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return LoadedDocument(text, title.replace("¶", "").strip())


def _load_pdf(path: Path) -> LoadedDocument:
    from pypdf import PdfReader

    reader = PdfReader(path)
    text = "\n\n".join((page.extract_text() or "").strip() for page in reader.pages)
    meta_title = reader.metadata.title if reader.metadata else None
    return LoadedDocument(text.strip(), (meta_title or "").strip() or path.name)


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
            return line
    return ""

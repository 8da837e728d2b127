"""Rebuild this folder from Debian's `python3.11-doc` package (Python's own documentation).

Run once by a maintainer (`apt-get install python3.11-doc`, then
`python samples/make_samples.py`); the output is committed, so nothing needs it at run
time. Formats are converted mechanically (reST headings to Markdown headings, text to a
plain PDF); the words are the documentation's own.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

DOC = Path("/usr/share/doc/python3.11/html")
OUT = Path(__file__).resolve().parent

HTML_PAGES = [
    "tempfile",
    "json",
    "csv",
    "glob",
    "secrets",
    "heapq",
    "bisect",
    "uuid",
    "gzip",
    "fnmatch",
    "textwrap",
    "os.path",
    "base64",
]
RST = {
    "reference/zipfile.rst": "library/zipfile",
    "reference/random.rst": "library/random",
    "howto/annotations.rst": "howto/annotations",
}
TXT = {"tutorial/errors.txt": "tutorial/errors", "howto/ipaddress.txt": "howto/ipaddress"}
MARKDOWN = {
    "tutorial/venv.md": "tutorial/venv",
    "tutorial/floatingpoint.md": "tutorial/floatingpoint",
    "howto/sockets.md": "howto/sockets",
}
PDF = {"howto/sorting.pdf": ("howto/sorting", "Sorting HOW TO")}
_UNDERLINE = re.compile(r"^([=\-~^*#])\1{2,}\s*$")


def source_text(name: str) -> str:
    return (DOC / "_sources" / f"{name}.rst.txt").read_text(encoding="utf-8")


def rst_to_markdown(text: str) -> str:
    """Heading underlines become `#` levels in order of first appearance; rest is kept."""
    lines, out, levels = text.splitlines(), [], []
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if _UNDERLINE.match(line) and i + 2 < len(lines) and _UNDERLINE.match(lines[i + 2]):
            line, nxt, i = lines[i + 1], lines[i + 2], i + 1  # over- and underlined title
        if line.strip() and _UNDERLINE.match(nxt) and not _UNDERLINE.match(line):
            if nxt[0] not in levels:
                levels.append(nxt[0])
            out.append("#" * min(levels.index(nxt[0]) + 1, 6) + " " + line.strip())
            i += 2
            continue
        out.append(line)
        i += 1
    return "\n".join(out) + "\n"


def write_pdf(path: Path, title: str, text: str) -> None:
    """A minimal PDF 1.4 with Helvetica text, so pypdf has real text to extract."""
    lines = [w for para in text.splitlines() for w in (textwrap.wrap(para, 95) or [""])]
    pages = [lines[i : i + 60] for i in range(0, len(lines), 60)]
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    kids = []
    for page in pages:
        body = ["BT /F1 9 Tf 11 TL 50 750 Td"]
        for line in page:
            safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            body.append(f"({safe.encode('cp1252', 'replace').decode('cp1252')}) Tj T*")
        stream = "\n".join([*body, "ET"])
        objects.append(f"<< /Length {len(stream.encode('cp1252'))} >>\nstream\n{stream}\nendstream")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {len(objects)} 0 R >>"
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    objects.append(f"<< /Title ({title}) /Producer (samples/make_samples.py) >>")
    data, offsets = b"%PDF-1.4\n", []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(data))
        data += f"{number} 0 obj\n{obj}\nendobj\n".encode("cp1252")
    xref = len(data)
    data += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    data += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    data += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    path.write_bytes(data)


def main() -> None:
    for name in HTML_PAGES:
        (OUT / "library").mkdir(exist_ok=True)
        shutil.copy2(DOC / "library" / f"{name}.html", OUT / "library" / f"{name}.html")
    for target, name in {**RST, **TXT}.items():
        (OUT / target).parent.mkdir(exist_ok=True)
        (OUT / target).write_text(source_text(name), encoding="utf-8")
    for target, name in MARKDOWN.items():
        (OUT / target).parent.mkdir(exist_ok=True)
        (OUT / target).write_text(rst_to_markdown(source_text(name)), encoding="utf-8")
    for target, (name, title) in PDF.items():
        (OUT / target).parent.mkdir(exist_ok=True)
        write_pdf(OUT / target, title, source_text(name))


if __name__ == "__main__":
    main()

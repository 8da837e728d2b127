"""Checks on an uploaded file before it becomes a job, and where it waits on disk.

A file's name becomes its `source` (re-uploading the same name replaces the document) and
is never used as a path: the bytes are kept as `DATA_DIR/uploads/<job id>/upload<suffix>`.
Types are checked by content, not only by extension.
"""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path
from typing import Any

from chains.ingest.loaders import SUPPORTED_SUFFIXES

UPLOADS = "uploads"
MAX_NAME_CHARS = 200
_BINARY_MAGIC = (b"%PDF-", b"PK\x03\x04", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x7fELF")
_MARKUP = re.compile(rb"<\s*(!doctype\s+html|html|head|body|title|p|div|h[1-6]|main)\b", re.I)


class UploadRefused(ValueError):
    """The file cannot become a job; `status` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def document_name(filename: str | None) -> str:
    """The `source` an upload gets: its plain file name, or a refusal (422).

    Names with folders in them (`../x.md`, `a/b.md`, `C:\\x.md`) are refused rather than
    trimmed: a browser never sends one, so a client that does is wrong or hostile.
    """
    name = unicodedata.normalize("NFC", (filename or "").strip())
    if not name:
        raise UploadRefused(422, "every file needs a name")
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith("."):
        raise UploadRefused(422, f"file name {name[:80]!r} must be a plain name, without folders")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise UploadRefused(422, "file names must not contain control characters")
    if len(name) > MAX_NAME_CHARS:
        raise UploadRefused(422, f"file names must be at most {MAX_NAME_CHARS} characters")
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        kinds = " ".join(sorted(SUPPORTED_SUFFIXES))
        raise UploadRefused(415, f"{name}: unsupported type; upload one of {kinds}")
    return name


def check_content(name: str, data: bytes) -> None:
    """Refuse (415) content that is not what the extension says."""
    suffix = Path(name).suffix.lower()
    if suffix == ".pdf":
        if b"%PDF-" not in data[:1024]:
            raise UploadRefused(415, f"{name}: not a PDF (no %PDF- header)")
        return
    if b"\x00" in data or data.startswith(_BINARY_MAGIC):
        raise UploadRefused(415, f"{name}: binary content in a {suffix} file")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRefused(415, f"{name}: not UTF-8 text") from None
    if suffix in (".html", ".htm") and not _MARKUP.search(data[:65536]):
        raise UploadRefused(415, f"{name}: no HTML markup found")


def job_folder(data_dir: Path, job_id: str) -> Path:
    return data_dir / UPLOADS / job_id


def store_upload(data_dir: Path, job_id: str, name: str, data: bytes) -> str:
    """Write the bytes where the job will read them; returns the path relative to DATA_DIR."""
    folder = job_folder(data_dir, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"upload{Path(name).suffix.lower()}"
    staged = path.with_suffix(".part")
    staged.write_bytes(data)
    staged.replace(path)
    return path.relative_to(data_dir).as_posix()


def discard_upload(data_dir: Path, relative: str | None) -> None:
    """Remove a job's folder; only ever under DATA_DIR/uploads."""
    if not relative:
        return
    folder = (data_dir / relative).parent
    uploads = (data_dir / UPLOADS).resolve()
    if folder.resolve().parent == uploads:
        shutil.rmtree(folder, ignore_errors=True)


def typed_metadata(raw: Any) -> dict[str, Any]:
    """The metadata form field: a JSON object, strings typed as `--meta` types them."""
    from chains.ingest.pipeline import meta_key, typed_value

    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise UploadRefused(422, "metadata must be a JSON object of key: value pairs")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            name = meta_key(str(key))
        except ValueError as exc:
            raise UploadRefused(422, str(exc).replace("--meta", "metadata")) from None
        if isinstance(value, bool | int | float):
            out[name] = value
        elif isinstance(value, str):
            out[name] = typed_value(value)
        else:
            raise UploadRefused(422, f"metadata {name!r}: values must be strings, numbers or bools")
    return out

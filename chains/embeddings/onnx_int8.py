"""Sentence embeddings through an int8 ONNX model built locally from the shipped weights.

Why by hand: sentence-transformers' `backend="onnx"` needs `optimum`, whose releases pin
transformers < 4.58 and huggingface-hub < 1 (this project runs transformers 5). So the
model is exported with `torch.onnx`, fused with onnxruntime's transformer optimizer,
quantised with `quantize_dynamic` (int8 per-channel weights), and run with onnxruntime
plus the model's own fast tokenizer. Pooling and normalisation repeat sentence-transformers'
`Pooling(mean)` + `Normalize`; tests check cosine >= 0.98 against the torch model.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from chains.models.folders import build_once

ONNX_FILE = "model_int8.onnx"
COPIED_FILES = ("tokenizer.json", "config.json", "sentence_bert_config.json")


def onnx_model_dir(model_path: str | Path, models_dir: Path) -> Path:
    """Where the int8 build of `model_path` lives; its name changes with the weights."""
    source = Path(model_path)
    weights = source / "model.safetensors"
    stamp = weights.stat().st_size if weights.exists() else 0
    return models_dir / f"{source.name}-onnx-int8-{stamp}"


def build_onnx_int8(model_path: str | Path, models_dir: Path) -> Path:
    """Export, fuse and quantise once; later calls return the existing folder."""
    source = Path(model_path)

    def build(tmp: Path) -> None:
        tmp.mkdir()
        _export_quantised(source, tmp)
        for name in COPIED_FILES:
            if (source / name).exists():
                shutil.copy2(source / name, tmp / name)

    return build_once(onnx_model_dir(model_path, models_dir), ONNX_FILE, build)


def _export_quantised(source: Path, out: Path) -> None:
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(source, local_files_only=True)
    # Eager attention exports the MatMul/Softmax pattern the optimizer fuses into Attention.
    base = AutoModel.from_pretrained(source, local_files_only=True, attn_implementation="eager")

    class _Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.base = base.eval()

        def forward(self, input_ids, attention_mask, token_type_ids):  # type: ignore[no-untyped-def]
            return self.base(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    names = ["input_ids", "attention_mask", "token_type_ids"]
    dummy = tuple(torch.ones(2, 16, dtype=torch.long) for _ in names)
    fp32, fused = out / "model_fp32.onnx", out / "model_fused.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Encoder(),
            dummy,
            str(fp32),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    optimized = optimize_model(
        str(fp32),
        model_type="bert",
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
    )
    optimized.save_model_to_file(str(fused))
    quantize_dynamic(
        str(fused),
        str(out / ONNX_FILE),
        weight_type=QuantType.QInt8,
        per_channel=True,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    fp32.unlink()
    fused.unlink()


class OnnxEmbeddings(Embeddings):
    """Mean-pooled, L2-normalised embeddings from an ONNX encoder (thread-safe)."""

    def __init__(self, model_dir: Path, *, batch_size: int = 64) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.batch_size = batch_size
        max_len = 256
        with contextlib.suppress(FileNotFoundError):
            st_config = json.loads((model_dir / "sentence_bert_config.json").read_text())
            max_len = int(st_config.get("max_seq_length", max_len))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # The shipped tokenizer.json pins truncation and padding to 128; use the model's limit.
        self.tokenizer.enable_truncation(max_length=max_len)
        self.tokenizer.enable_padding()
        options = ort.SessionOptions()
        # Idle intra-op threads otherwise spin after each call and take the CPU from the
        # index search that follows.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(model_dir / ONNX_FILE), options, providers=["CPUExecutionProvider"]
        )

    def _encode(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def embed_array(self, texts: list[str]) -> np.ndarray:
        """Embeddings as one float32 array, batched by length so padding stays small."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out: np.ndarray | None = None
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            vectors = self._encode([texts[i] for i in rows])
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        assert out is not None
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embed_array(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_array([text])[0].tolist()

"""Check that the hand-written Keras and PyTorch samples are what the real libraries write.

Not part of the test suite (Garrison's tests do not install PyTorch, Keras or TensorFlow).
Run it in a separate environment that has them::

    python -m venv /tmp/real && /tmp/real/bin/pip install torch==2.13.0 keras h5py
    python generate.py /tmp/corpus           # with Garrison's virtualenv
    KERAS_BACKEND=torch /tmp/real/bin/python verify_with_real_libraries.py /tmp/corpus

It prints, for every benign PyTorch sample, whether ``torch.load`` rebuilds it and runs a
forward pass and whether its pickle opcodes equal those of ``torch.save`` of the same
architecture (memo slot numbers aside); for every benign Keras sample, whether
``keras.saving.load_model`` (default ``safe_mode``) loads it and predicts; and which
Lambda payloads fire under ``safe_mode=False``.
"""

from __future__ import annotations

import glob
import io
import os
import pickle
import pickletools
import sys
import warnings
import zipfile
from typing import Any


def _ops(data: bytes) -> list[Any]:
    out: list[Any] = []
    for op, arg, _pos in pickletools.genops(data):
        if op.name in ("BINPUT", "LONG_BINPUT", "BINGET", "LONG_BINGET", "MEMOIZE", "PUT", "GET"):
            out.append(op.name[-3:])
        else:
            out.append((op.name, "f" if op.name == "BINFLOAT" else arg))
    return out


def check_torch(corpus: str) -> None:
    import torch
    from torch import nn

    def saved(model: Any) -> bytes:
        buffer = io.BytesIO()
        torch.save(model, buffer)
        archive = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
        return archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))

    models = {
        "mlp.pt": (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 2)),
                   torch.rand(2, 4)),
        "cnn.pt": (nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(),
                                 nn.MaxPool2d(2), nn.Flatten(), nn.Linear(18, 3)),
                   torch.rand(2, 1, 8, 8)),
        "lstm.pt": (nn.Sequential(nn.Embedding(10, 4), nn.LSTM(4, 3, batch_first=True)),
                    torch.randint(0, 10, (2, 5))),
        "transformer.pt": (nn.TransformerEncoder(nn.TransformerEncoderLayer(
            8, 2, 16, batch_first=True), 1, enable_nested_tensor=False), torch.rand(2, 3, 8)),
    }
    for name, (reference, x) in models.items():
        path = os.path.join(corpus, name)
        real = _ops(saved(reference))
        mine = _ops(zipfile.ZipFile(path).read("archive/data.pkl"))
        model = torch.load(path, weights_only=False)
        model.eval()
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out
        print(f"torch {name}: forward {tuple(out.shape)}, opcodes "
              f"{'identical' if real == mine else 'DIFFER'}")
    print("torch meta.pt:", torch.load(os.path.join(corpus, "meta.pt"), weights_only=False))
    with open(os.path.join(corpus, "meta-p2.pkl"), "rb") as handle:
        print("torch meta-p2.pkl:", pickle.load(handle))


def check_keras(corpus: str) -> None:
    import keras
    import numpy as np

    for name in ("mlp.keras", "cnn.keras", "rnn.keras", "functional.keras", "assets.keras",
                 "keras3.h5", "keras2.h5"):
        model = keras.saving.load_model(os.path.join(corpus, name))
        spec = model.inputs[0]
        shape = [2 if s is None else s for s in spec.shape]
        x = (np.random.randint(0, 20, shape) if "int" in str(spec.dtype)
             else np.random.rand(*shape).astype("float32"))
        print(f"keras {name}: loads, predicts {model.predict(x, verbose=0).shape}")
    for name in ("lambda.keras", "lambda-code.h5"):
        try:
            keras.saving.load_model(os.path.join(corpus, name))
            print(f"keras {name}: loaded with safe_mode=True (unexpected)")
        except ValueError:
            print(f"keras {name}: safe_mode=True refuses it")
        keras.saving.load_model(os.path.join(corpus, name), safe_mode=False)
    markers = sorted(os.path.basename(p) for p in glob.glob(os.path.join(corpus, "MARKER-*")))
    print("markers after safe_mode=False:", markers)


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    check_torch(sys.argv[1])
    check_keras(sys.argv[1])

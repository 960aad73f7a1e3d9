"""Whole-module PyTorch checkpoints and tensor-metadata pickles, written without PyTorch.

``torch.save(model)`` pickles (protocol 2) the module objects: ``NEWOBJ`` of each
``torch.nn`` class, then ``BUILD`` with its ``__dict__`` (parameters rebuilt by
``torch._utils._rebuild_parameter`` over ``_rebuild_tensor_v2`` and a persistent storage
id, hook dictionaries as ``collections.OrderedDict``, hyper-parameters). A small pickler
(:class:`SpoofPickler`) writes exactly that stream from stand-ins that name the torch
globals, with Python's own pickler doing the framing and memoization, so the opcodes are
those of the real thing (README.md: the files load in torch 2.13 with
``torch.load(weights_only=False)`` and run a forward pass).
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from payloads import Built, Evil

__all__ = ["TORCH_BENIGN", "TORCH_MALICIOUS", "Ref", "SpoofPickler", "Stub"]


class Ref:
    """A global named by module and name (need not be importable here)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> Any:
        raise TypeError("a stand-in for a global is never called")


@cache
def ref(module: str, name: str) -> Ref:
    """One ``Ref`` per global, so the pickler memoizes repeated uses as torch's does."""
    return Ref(module, name)


class Stub:
    """An object that pickles as ``reduce`` (a ``__reduce__`` tuple over ``Ref``s)."""

    def __init__(self, *reduce: Any) -> None:
        self.reduce = reduce


NEWOBJ = ref("copyreg", "__newobj__")


class Storage:
    """A tensor storage: pickled as a persistent id, its bytes become ``data/<key>``.

    Keys are given in the order the pickler meets the storages, as torch.save does.
    """

    def __init__(self, kind: str, values: bytes, numel: int) -> None:
        self.key = ""
        self.kind, self.values, self.numel = kind, values, numel


class SpoofPickler(pickle._Pickler):  # type: ignore[name-defined, misc]
    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_ref(self, obj: Ref) -> None:
        module, name = obj.module, obj.name
        if self.proto < 3 and self.fix_imports:
            module, name = _compat_pickle.REVERSE_NAME_MAPPING.get(
                (module, name), (module, name))
            module = _compat_pickle.REVERSE_IMPORT_MAPPING.get(module, module)
        if self.proto >= 4:
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)

    dispatch[Ref] = save_ref

    def reducer_override(self, obj: Any) -> Any:
        return obj.reduce if isinstance(obj, Stub) else NotImplemented

    def save_reduce(self, func: Any, args: Any, state: Any = None, listitems: Any = None,
                    dictitems: Any = None, state_setter: Any = None, *, obj: Any = None) -> None:
        if func is NEWOBJ:
            self.save(args[0])
            self.save(tuple(args[1:]))
            self.write(pickle.NEWOBJ)
            self.memoize(obj)
            if state is not None:
                self.save(state)
                self.write(pickle.BUILD)
            return
        super().save_reduce(func, args, state, listitems, dictitems, state_setter, obj=obj)

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, Storage):
            if not obj.key:
                self.keys = getattr(self, "keys", 0)
                obj.key, self.keys = str(self.keys), self.keys + 1
            return ("storage", ref("torch", obj.kind), obj.key, "cpu", obj.numel)
        return None


_ITEMSIZE = {"FloatStorage": ("f", 4), "LongStorage": ("q", 8)}


class _Tensors:
    """Allocates storages and builds parameter and buffer stand-ins."""

    def __init__(self) -> None:
        self.storages: list[Storage] = []

    def tensor(self, shape: tuple[int, ...], kind: str = "FloatStorage",
               fill: float = 0.01) -> Stub:
        numel = 1
        for dim in shape:
            numel *= dim
        code, _size = _ITEMSIZE[kind]
        values = [fill * (i % 7 - 3) for i in range(numel)] if code == "f" else [0] * numel
        storage = Storage(kind, struct.pack(f"<{numel}{code}", *values), numel)
        self.storages.append(storage)
        stride, step = [], 1
        for dim in reversed(shape):
            stride.insert(0, step)
            step *= dim
        # Fresh tuples (as torch makes them), so the pickler does not share equal constants.
        return Stub(ref("torch._utils", "_rebuild_tensor_v2"),
                    (storage, 0, tuple(list(shape)), tuple(stride), False, OrderedDict()))

    def parameter(self, shape: tuple[int, ...]) -> Stub:
        return Stub(ref("torch._utils", "_rebuild_parameter"),
                    (self.tensor(shape), True, OrderedDict()))


_HOOKS = ("_backward_pre_hooks", "_backward_hooks", "_is_full_backward_hook", "_forward_hooks",
          "_forward_hooks_with_kwargs", "_forward_hooks_always_called", "_forward_pre_hooks",
          "_forward_pre_hooks_with_kwargs", "_state_dict_hooks", "_state_dict_pre_hooks",
          "_load_state_dict_pre_hooks", "_load_state_dict_post_hooks")


def module(path: str, parameters: dict[str, Any] | None = None,
           buffers: dict[str, Any] | None = None, children: dict[str, Any] | None = None,
           **attrs: Any) -> Stub:
    """An ``nn.Module`` as torch pickles it: ``__newobj__`` of its class, then its dict."""
    state: dict[str, Any] = {"training": True, "_parameters": parameters or {},
                             "_buffers": buffers or {}, "_non_persistent_buffers_set": set()}
    for hook in _HOOKS:
        state[hook] = None if hook == "_is_full_backward_hook" else OrderedDict()
    state["_modules"] = children or {}
    state.update(attrs)
    module_name, _, cls = path.rpartition(".")
    return Stub(NEWOBJ, (ref(module_name, cls),), state)


_NN = "torch.nn.modules."


def linear(t: _Tensors, n_in: int, n_out: int, cls: str = "linear.Linear") -> Stub:
    return module(_NN + cls, {"weight": t.parameter((n_out, n_in)), "bias": t.parameter(
        (n_out,))}, in_features=n_in, out_features=n_out)


def _mlp(t: _Tensors) -> Stub:
    return module(_NN + "container.Sequential", children={
        "0": linear(t, 4, 8), "1": module(_NN + "activation.ReLU", inplace=False),
        "2": module(_NN + "dropout.Dropout", p=0.1, inplace=False), "3": linear(t, 8, 2)})


def _cnn(t: _Tensors) -> Stub:
    def pair(value: int) -> tuple[int, int]:
        return tuple([value, value])  # type: ignore[return-value]  # A fresh tuple each time.

    conv = module(_NN + "conv.Conv2d", {"weight": t.parameter((2, 1, 3, 3)),
                                        "bias": t.parameter((2,))},
                  in_channels=1, out_channels=2, kernel_size=pair(3), stride=pair(1),
                  padding=pair(0), dilation=pair(1), transposed=False, output_padding=pair(0),
                  groups=1, padding_mode="zeros", _reversed_padding_repeated_twice=(0, 0, 0, 0))
    norm = module(_NN + "batchnorm.BatchNorm2d", {"weight": t.parameter((2,)),
                                                  "bias": t.parameter((2,))},
                  {"running_mean": t.tensor((2,)), "running_var": t.tensor((2,), fill=1.0),
                   "num_batches_tracked": t.tensor((), "LongStorage")},
                  num_features=2, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
    pool = module(_NN + "pooling.MaxPool2d", kernel_size=2, stride=2, padding=0, dilation=1,
                  return_indices=False, ceil_mode=False)
    return module(_NN + "container.Sequential", children={
        "0": conv, "1": norm, "2": module(_NN + "activation.ReLU", inplace=False), "3": pool,
        "4": module(_NN + "flatten.Flatten", start_dim=1, end_dim=-1), "5": linear(t, 18, 3)})


def _lstm(t: _Tensors) -> Stub:
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    params = dict(zip(names, [t.parameter((12, 4)), t.parameter((12, 3)), t.parameter((12,)),
                              t.parameter((12,))], strict=True))
    lstm = module(_NN + "rnn.LSTM", params, mode="LSTM", input_size=4, hidden_size=3,
                  num_layers=1, bias=True, batch_first=True, dropout=0.0, bidirectional=False,
                  proj_size=0, _flat_weights_names=names, _all_weights=[list(names)],
                  _flat_weights=[params[n] for n in names])
    embedding = module(_NN + "sparse.Embedding", {"weight": t.parameter((10, 4))},
                       num_embeddings=10, embedding_dim=4, padding_idx=None, max_norm=None,
                       norm_type=2.0, scale_grad_by_freq=False, sparse=False)
    return module(_NN + "container.Sequential", children={"0": embedding, "1": lstm})


def _layer_norm(t: _Tensors, dim: int) -> Stub:
    return module(_NN + "normalization.LayerNorm", {"weight": t.parameter((dim,)),
                                                    "bias": t.parameter((dim,))},
                  normalized_shape=(dim,), eps=1e-05, elementwise_affine=True)


def _transformer(t: _Tensors) -> Stub:
    attention = module(_NN + "activation.MultiheadAttention", {
        "in_proj_weight": t.parameter((24, 8)), "q_proj_weight": None, "k_proj_weight": None,
        "v_proj_weight": None, "in_proj_bias": t.parameter((24,))},
        children={"out_proj": linear(t, 8, 8, "linear.NonDynamicallyQuantizableLinear")},
        embed_dim=8, kdim=8, vdim=8, _qkv_same_embed_dim=True, num_heads=2, dropout=0.1,
        batch_first=True, head_dim=4, bias_k=None, bias_v=None, add_zero_attn=False)

    def dropout() -> Stub:
        return module(_NN + "dropout.Dropout", p=0.1, inplace=False)

    layer = module(_NN + "transformer.TransformerEncoderLayer", children={
        "self_attn": attention, "linear1": linear(t, 8, 16), "dropout": dropout(),
        "linear2": linear(t, 16, 8), "norm1": _layer_norm(t, 8), "norm2": _layer_norm(t, 8),
        "dropout1": dropout(), "dropout2": dropout()},
        norm_first=False, activation_relu_or_gelu=1,
        activation=ref("torch.nn.functional", "relu"))
    layers = module(_NN + "container.ModuleList", children={"0": layer})
    return module(_NN + "transformer.TransformerEncoder", children={"layers": layers},
                  num_layers=1, norm=None, enable_nested_tensor=False, use_nested_tensor=False,
                  mask_check=True)


def torch_zip(build: Callable[[_Tensors], Any], protocol: int = 2) -> bytes:
    """A ``torch.save`` zip archive of what ``build`` returns."""
    tensors = _Tensors()
    value = build(tensors)
    stream = io.BytesIO()
    SpoofPickler(stream, protocol).dump(value)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", stream.getvalue())
        archive.writestr("archive/.format_version", "1")
        archive.writestr("archive/.storage_alignment", "64")
        archive.writestr("archive/byteorder", "little")
        for storage in sorted(tensors.storages, key=lambda s: int(s.key)):
            archive.writestr(f"archive/data/{storage.key}", storage.values)
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/.data/serialization_id", "0259183487117355473400003")
    return buffer.getvalue()


def _metadata(t: _Tensors) -> dict[str, Any]:
    """Tensor metadata as people pickle it beside checkpoints (shapes, dtypes, devices)."""
    return {"shape": Stub(ref("torch", "Size"), ([3, 4],)), "dtype": ref("torch", "float32"),
            "device": Stub(ref("torch", "device"), ("cpu",)),
            "cuda": Stub(ref("torch", "device"), ("cuda", 0)),
            "layout": Stub(ref("torch.serialization", "_get_layout"), ("torch.strided",)),
            "qscheme": ref("torch", "per_tensor_affine"), "half": ref("torch", "bfloat16")}


def _plain(build: Callable[[_Tensors], Any], protocol: int) -> bytes:
    stream = io.BytesIO()
    SpoofPickler(stream, protocol).dump(build(_Tensors()))
    return stream.getvalue()


def _write(out: Path, filename: str, data: bytes, live: str | None = None) -> Built:
    path = out / filename
    path.write_bytes(data)
    return Built(path, live)


TORCH_BENIGN: dict[str, Callable[[Path], Built]] = {
    "torch-module-mlp": lambda out: _write(out, "mlp.pt", torch_zip(_mlp)),
    "torch-module-cnn": lambda out: _write(out, "cnn.pt", torch_zip(_cnn)),
    "torch-module-lstm": lambda out: _write(out, "lstm.pt", torch_zip(_lstm)),
    "torch-module-transformer": lambda out: _write(out, "transformer.pt", torch_zip(_transformer)),
    "torch-tensor-metadata-zip": lambda out: _write(out, "meta.pt", torch_zip(_metadata)),
    **{f"torch-tensor-metadata-p{p}": (lambda p: lambda out: _write(
        out, f"meta-p{p}.pkl", _plain(_metadata, p)))(p) for p in (2, 4)},
}


def _custom_class(t: _Tensors) -> Stub:
    # The model's own class: code that is not in the file, refused unless allowed.
    return module("__main__.Net", children={"fc": linear(t, 4, 2)})


def _hook(marker: str) -> Callable[[_Tensors], Stub]:
    def build(t: _Tensors) -> Stub:
        net = _mlp(t)
        # A forward hook that is os.system: called with (module, input) on every forward.
        net.reduce[2]["_forward_hooks"] = OrderedDict({0: Evil(marker)})
        return net

    return build


def _evil_state(marker: str) -> Callable[[_Tensors], Stub]:
    def build(t: _Tensors) -> Stub:
        net = _mlp(t)
        net.reduce[2]["payload"] = Evil(marker)
        return net

    return build


TORCH_MALICIOUS: dict[str, Callable[[Path], Built]] = {
    "torch-module-custom-class": lambda out: _write(out, "custom.pt", torch_zip(_custom_class)),
    "torch-module-evil-hook": lambda out: _write(out, "hook.pt", torch_zip(
        _hook(str(out / "MARKER-torch-module-evil-hook")))),
    "torch-module-evil-state": lambda out: _write(out, "state-evil.pt", torch_zip(
        _evil_state(str(out / "MARKER-torch-module-evil-state")))),
    "torch-metadata-evil": lambda out: _write(out, "meta-evil.pkl", _plain(
        lambda t: {"x": Evil(str(out / "MARKER-torch-metadata-evil")), **_metadata(t)}, 2),
        "pickle"),
    "torch-layout-forged": lambda out: _write(out, "layout.pkl", _plain(lambda t: {
        "layout": Stub(ref("torch.serialization", "_get_layout"), (ref("os", "system"),))}, 2)),
    "torch-functional-not-listed": lambda out: _write(out, "functional.pt", torch_zip(
        lambda t: module(_NN + "container.Sequential", hook=ref("torch.nn.functional",
                                                                "scaled_dot_product_attention"),
                         loader=ref("torch", "load")))),
}

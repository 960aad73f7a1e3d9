"""Keras and HDF5 samples, written without Keras: configs by hand in the layout Keras 3.15
(``.keras``, legacy ``.h5``) and tf.keras 2 (legacy ``.h5``) write, weights with h5py.

The layouts were copied from files real Keras wrote (see README.md: the benign samples load
in Keras 3.15 with its default ``safe_mode``, and the Lambda samples run their payload when
loaded with ``safe_mode=False``).
"""

from __future__ import annotations

import base64
import io
import json
import marshal
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from payloads import PICKLE_PAYLOADS, Built

__all__ = ["KERAS_BENIGN", "KERAS_MALICIOUS"]

_DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
          "registered_name": None}


def _write(out: Path, filename: str, data: bytes) -> Built:
    path = out / filename
    path.write_bytes(data)
    return Built(path)


def _obj(module: str, cls: str, config: Any, registered: str | None = None,
         **extra: Any) -> dict[str, Any]:
    return {"module": module, "class_name": cls, "config": config,
            "registered_name": registered, **extra}


def _init(cls: str, **config: Any) -> dict[str, Any]:
    return _obj("keras.initializers", cls, config)


def _glorot() -> dict[str, Any]:
    return _init("GlorotUniform", seed=None, input_axes=None, output_axes=None)


def _input(name: str, shape: list[Any], dtype: str = "float32") -> dict[str, Any]:
    return _obj("keras.layers", "InputLayer", {"batch_shape": [None, *shape], "dtype": dtype,
                                               "sparse": False, "ragged": False, "name": name,
                                               "optional": False})


def _dense(name: str, units: int, activation: Any, fan_in: int, **over: Any) -> dict[str, Any]:
    config = {"name": name, "trainable": True, "dtype": _DTYPE, "units": units,
              "activation": activation, "use_bias": True, "kernel_initializer": _glorot(),
              "bias_initializer": _init("Zeros"), "kernel_regularizer": None,
              "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
              "quantization_config": None, **over}
    return _obj("keras.layers", "Dense", config, build_config={"input_shape": [None, fan_in]})


def _sequential(name: str, layers: list[dict[str, Any]], shape: list[Any],
                compile_config: dict[str, Any] | None = None) -> dict[str, Any]:
    model = _obj("keras", "Sequential", {"name": name, "trainable": True, "dtype": _DTYPE,
                                         "layers": layers, "build_input_shape": [None, *shape]},
                 build_config={"input_shape": [None, *shape]})
    if compile_config is not None:
        model["compile_config"] = compile_config
    return model


def _compile(optimizer: str, loss: Any, metrics: list[Any]) -> dict[str, Any]:
    module = f"keras.src.backend.torch.optimizers.torch_{optimizer.lower()}"
    config = {"name": optimizer.lower(), "learning_rate": 0.001, "weight_decay": None,
              "clipnorm": None, "global_clipnorm": None, "clipvalue": None, "use_ema": False,
              "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
              "gradient_accumulation_steps": None}
    return {"optimizer": _obj(module, optimizer, config, optimizer), "loss": loss,
            "loss_weights": None, "metrics": metrics, "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def _weights_h5(groups: dict[str, list[tuple[int, ...]]], model_name: str,
                **kwargs: Any) -> bytes:
    """A Keras 3 ``model.weights.h5``: ``layers/<path>/vars/<i>`` datasets."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w", **kwargs) as f:
        layers = f.create_group("layers")
        for path, shapes in groups.items():
            group = layers.create_group(path).create_group("vars")
            group.attrs["name"] = path.rsplit("/", 1)[-1]
            for i, shape in enumerate(shapes):
                group.create_dataset(str(i), data=rng.normal(0, 0.1, shape).astype("float32"))
        f.create_group("optimizer").create_group("vars").attrs["name"] = "adam"
        f.create_group("vars").attrs["name"] = model_name
    return buffer.getvalue()


def _keras_zip(config: dict[str, Any], weights: bytes,
               extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps(
            {"keras_version": "3.15.1", "date_saved": "2026-12-07@18:29:23"}))
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("model.weights.h5", weights)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


# -- Benign models ---------------------------------------------------------------------------

def _mlp() -> tuple[dict[str, Any], bytes]:
    layers = [_input("input_layer", [4]), _dense("dense", 8, "relu", 4),
              _obj("keras.layers", "Dropout", {"name": "dropout", "trainable": True,
                                              "dtype": _DTYPE, "rate": 0.1, "seed": None,
                                              "noise_shape": None}),
              _dense("dense_1", 2, "softmax", 8)]
    config = _sequential("sequential", layers, [4], _compile(
        "Adam", "sparse_categorical_crossentropy", ["accuracy"]))
    return config, _weights_h5({"dense": [(4, 8), (8,)], "dropout": [],
                                "dense_1": [(8, 2), (2,)]}, "sequential")


def _cnn() -> tuple[dict[str, Any], bytes]:
    conv = _obj("keras.layers", "Conv2D", {
        "name": "conv2d", "trainable": True, "dtype": _DTYPE, "filters": 2,
        "kernel_size": [3, 3], "strides": [1, 1], "padding": "valid",
        "data_format": "channels_last", "dilation_rate": [1, 1], "groups": 1,
        "activation": "relu", "use_bias": True, "kernel_initializer": _glorot(),
        "bias_initializer": _init("Zeros"), "kernel_regularizer": None, "bias_regularizer": None,
        "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None},
        build_config={"input_shape": [None, 8, 8, 1]})
    norm = _obj("keras.layers", "BatchNormalization", {
        "name": "batch_normalization", "trainable": True, "dtype": _DTYPE, "axis": -1,
        "momentum": 0.99, "epsilon": 0.001, "center": True, "scale": True,
        "beta_initializer": _init("Zeros"), "gamma_initializer": _init("Ones"),
        "moving_mean_initializer": _init("Zeros"), "moving_variance_initializer": _init("Ones"),
        "beta_regularizer": None, "gamma_regularizer": None, "beta_constraint": None,
        "gamma_constraint": None, "synchronized": False, "renorm": False,
        "renorm_clipping": None, "renorm_momentum": 0.99},
        build_config={"input_shape": [None, 6, 6, 2]})
    pool = _obj("keras.layers", "MaxPooling2D", {
        "name": "max_pooling2d", "trainable": True, "dtype": _DTYPE, "pool_size": [2, 2],
        "padding": "valid", "strides": [2, 2], "data_format": "channels_last"})
    flat = _obj("keras.layers", "Flatten", {"name": "flatten", "trainable": True, "dtype": _DTYPE,
                                            "data_format": "channels_last"},
                build_config={"input_shape": [None, 3, 3, 2]})
    layers = [_input("input_layer", [8, 8, 1]), conv, norm, pool, flat,
              _dense("dense", 3, "softmax", 18)]
    weights = _weights_h5({"conv2d": [(3, 3, 1, 2), (2,)],
                           "batch_normalization": [(2,), (2,), (2,), (2,)],
                           "max_pooling2d": [], "flatten": [], "dense": [(18, 3), (3,)]}, "cnn")
    return _sequential("cnn", layers, [8, 8, 1]), weights


def _rnn() -> tuple[dict[str, Any], bytes]:
    embedding = _obj("keras.layers", "Embedding", {
        "name": "embedding", "trainable": True, "dtype": _DTYPE, "input_dim": 20,
        "output_dim": 4, "embeddings_initializer": _init("RandomUniform", seed=None,
                                                         minval=-0.05, maxval=0.05),
        "embeddings_regularizer": None, "activity_regularizer": None,
        "embeddings_constraint": None, "mask_zero": False, "quantization_config": None},
        build_config={"input_shape": [None, 5]})
    lstm = _obj("keras.layers", "LSTM", {
        "name": "lstm", "trainable": True, "dtype": _DTYPE, "return_sequences": False,
        "return_state": False, "go_backwards": False, "stateful": False, "unroll": False,
        "zero_output_for_mask": False, "units": 3, "activation": "tanh",
        "recurrent_activation": "sigmoid", "use_bias": True, "kernel_initializer": _glorot(),
        "recurrent_initializer": _init("Orthogonal", seed=None, gain=1.0),
        "bias_initializer": _init("Zeros"), "unit_forget_bias": True,
        "kernel_regularizer": None, "recurrent_regularizer": None, "bias_regularizer": None,
        "activity_regularizer": None, "kernel_constraint": None, "recurrent_constraint": None,
        "bias_constraint": None, "dropout": 0.0, "recurrent_dropout": 0.0, "seed": None},
        build_config={"input_shape": [None, 5, 4]})
    layers = [_input("input_layer", [5], "int32"), embedding, lstm,
              _dense("dense", 1, "sigmoid", 3)]
    config = _sequential("rnn", layers, [5], _compile("RMSprop", "binary_crossentropy",
                                                      ["accuracy"]))
    weights = _weights_h5({"embedding": [(20, 4)], "lstm": [], "lstm/cell": [
        (4, 12), (3, 12), (12,)], "dense": [(3, 1), (1,)]}, "rnn")
    return config, weights


def _tensor(shape: list[Any], history: list[Any]) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__", "config": {"shape": shape, "dtype": "float32",
                                                         "keras_history": history}}


def _functional() -> tuple[dict[str, Any], bytes]:
    def node(layer: dict[str, Any], args: list[Any]) -> dict[str, Any]:
        return {**layer, "name": layer["config"]["name"],
                "inbound_nodes": [{"args": args, "kwargs": {}}]}

    x = {**_input("x", [4]), "name": "x", "inbound_nodes": []}
    first = node(_dense("dense", 8, "gelu", 4, kernel_regularizer=_obj(
        "keras.regularizers", "L2", {"l2": 0.01})), [_tensor([None, 4], ["x", 0, 0])])
    add = node(_obj("keras.src.ops.numpy", "Add", {"name": "add"}, "Add"),
               [_tensor([None, 8], ["dense", 0, 0]), 1.0])
    second = node(_dense("dense_1", 8, "tanh", 4), [_tensor([None, 4], ["x", 0, 0])])
    concat = node(_obj("keras.layers", "Concatenate", {"name": "concatenate", "trainable": True,
                                                       "dtype": _DTYPE, "axis": -1},
                       build_config={"input_shape": [[None, 8], [None, 8]]}),
                  [[_tensor([None, 8], ["add", 0, 0]), _tensor([None, 8], ["dense_1", 0, 0])]])
    out = node(_dense("dense_2", 3, "softmax", 16, kernel_constraint=_obj(
        "keras.constraints", "MaxNorm", {"max_value": 2, "axis": 0})),
        [_tensor([None, 16], ["concatenate", 0, 0])])
    config = _obj("keras.src.models.functional", "Functional", {
        "name": "functional", "trainable": True, "layers": [x, first, add, second, concat, out],
        "input_layers": ["x", 0, 0], "output_layers": ["dense_2", 0, 0]}, "Functional",
        build_config={"input_shape": None})
    config["compile_config"] = _compile("SGD", _obj(
        "keras.losses", "SparseCategoricalCrossentropy", {
            "name": "sparse_categorical_crossentropy", "reduction": "sum_over_batch_size",
            "from_logits": False, "ignore_class": None}), [_obj(
                "keras.metrics", "SparseCategoricalAccuracy",
                {"name": "sparse_categorical_accuracy", "dtype": "float32"})])
    weights = _weights_h5({"input_layer": [], "dense": [(4, 8), (8,)],
                           "dense_1": [(4, 8), (8,)], "concatenate": [],
                           "dense_2": [(16, 3), (3,)]}, "functional")
    return config, weights


def _legacy(config: dict[str, Any], layers: dict[str, dict[str, tuple[int, ...]]],
            keras_version: str, training: dict[str, Any] | None = None,
            model_name: str = "sequential", keras2: bool = False) -> bytes:
    """A legacy ``model.save('x.h5')`` file: root attributes and ``model_weights``."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["backend"] = "tensorflow" if keras2 else "torch"
        f.attrs["keras_version"] = keras_version
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        if training is not None:
            f.attrs["training_config"] = json.dumps(training).encode("utf8")
        weights = f.create_group("model_weights")
        weights.attrs["backend"] = f.attrs["backend"]
        weights.attrs["keras_version"] = keras_version
        weights.attrs["layer_names"] = [n.encode() for n in layers]
        for layer, variables in layers.items():
            group = weights.create_group(layer)
            names = [f"{layer}/{v}:0" if keras2 else f"{model_name}/{layer}/{v}"
                     for v in variables]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name, shape in zip(names, variables.values(), strict=True):
                group.create_dataset(name, data=rng.normal(0, 0.1, shape).astype("float32"))
    return buffer.getvalue()


def _keras3_h5() -> bytes:
    config, _ = _mlp()
    compile_config = config.pop("compile_config")
    for layer in config["config"]["layers"]:
        for key in ("module", "registered_name", "build_config"):
            layer.pop(key, None)
    for key in ("module", "registered_name", "build_config"):
        config.pop(key, None)
    training = {"loss": compile_config["loss"], "loss_weights": None, "metrics": ["accuracy"],
                "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
                "jit_compile": False, "optimizer_config": {"class_name": "Adam", "config": {
                    "name": "adam", "learning_rate": 0.001}}}
    return _legacy(config, {"dense": {"kernel": (4, 8), "bias": (8,)}, "dropout": {},
                            "dense_1": {"kernel": (8, 2), "bias": (2,)}}, "3.15.1", training)


def _keras2_config(extra_layer: dict[str, Any] | None = None) -> dict[str, Any]:
    def dense(name: str, units: int, activation: str) -> dict[str, Any]:
        return {"class_name": "Dense", "config": {
            "name": name, "trainable": True, "dtype": "float32", "units": units,
            "activation": activation, "use_bias": True,
            "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}}

    layers = [{"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4],
                                                      "dtype": "float32", "sparse": False,
                                                      "ragged": False, "name": "dense_input"}},
              dense("dense", 8, "relu")]
    if extra_layer is not None:
        layers.append(extra_layer)
    layers.append(dense("dense_1", 2, "softmax"))
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": layers},
            "keras_version": "2.15.0", "backend": "tensorflow"}


def _keras2_h5(extra_layer: dict[str, Any] | None = None) -> bytes:
    training = {"loss": "sparse_categorical_crossentropy", "metrics": [[{
        "class_name": "MeanMetricWrapper", "config": {"name": "accuracy", "dtype": "float32",
                                                      "fn": "sparse_categorical_accuracy"}}]],
        "weighted_metrics": None, "loss_weights": None, "optimizer_config": {
            "class_name": "Adam", "config": {"name": "Adam", "learning_rate": 0.001,
                                             "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
                                             "amsgrad": False}}}
    return _legacy(_keras2_config(extra_layer), {
        "dense": {"kernel": (4, 8), "bias": (8,)},
        "dense_1": {"kernel": (8, 2), "bias": (2,)}}, "2.15.0", training, keras2=True)


def _built(make: Callable[[], tuple[dict[str, Any], bytes]], name: str) -> Callable[[Path], Built]:
    def build_it(out: Path) -> Built:
        config, weights = make()
        return _write(out, f"{name}.keras", _keras_zip(config, weights))

    return build_it


KERAS_BENIGN: dict[str, Callable[[Path], Built]] = {
    "keras-sequential-mlp": _built(_mlp, "mlp"),
    "keras-cnn": _built(_cnn, "cnn"),
    "keras-rnn": _built(_rnn, "rnn"),
    "keras-functional-ops": _built(_functional, "functional"),
    "keras-assets-vocabulary": lambda out: _write(out, "assets.keras", _keras_zip(
        *_mlp(), {"assets/string_lookup/vocabulary.txt": b"[UNK]\nspam\noffer\nmeeting\n"})),
    "keras3-legacy-h5": lambda out: _write(out, "keras3.h5", _keras3_h5()),
    "keras2-legacy-h5": lambda out: _write(out, "keras2.h5", _keras2_h5()),
    "keras-weights-h5": lambda out: _write(out, "model.weights.h5", _mlp()[1]),
    "hdf5-userblock-latest": lambda out: _write(out, "latest.h5", _weights_h5(
        {"dense": [(4, 2)]}, "m", libver="latest", userblock_size=512)),
}


# -- Malicious models ----------------------------------------------------------------------

def _lambda_code(marker: str) -> str:
    source = f"lambda x: (open({marker!r}, 'w').close(), x)[1]"
    return base64.b64encode(marshal.dumps(eval(compile(source, "<corpus>", "eval")).__code__)
                            ).decode()


def _keras_lambda(out: Path) -> Built:
    config, weights = _mlp()
    lam = _obj("keras.layers", "Lambda", {
        "name": "lambda", "trainable": True, "dtype": _DTYPE, "function": {
            "class_name": "__lambda__", "config": {
                "code": _lambda_code(str(out / "MARKER-keras-lambda-layer")), "defaults": None,
                "closure": None}}, "arguments": {}},
        build_config={"input_shape": [None, 4]})
    config["config"]["layers"].insert(1, lam)
    return _write(out, "lambda.keras", _keras_zip(config, weights))


def _keras_edit(name: str, edit: Callable[[dict[str, Any]], None]) -> Callable[[Path], Built]:
    def build_it(out: Path) -> Built:
        config, weights = _mlp()
        edit(config)
        return _write(out, f"{name}.keras", _keras_zip(config, weights))

    return build_it


def _set_activation(value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["config"]["layers"][1]["config"]["activation"] = value

    return edit


def _add_layer(layer: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    def edit(config: dict[str, Any]) -> None:
        config["config"]["layers"].insert(2, layer)

    return edit


def _keras2_lambda_function(out: Path) -> Built:
    # tf.keras 2 legacy Lambda: function_type "function" imports module.function by name.
    layer = {"class_name": "Lambda", "config": {
        "name": "lambda", "trainable": True, "dtype": "float32", "function": "system",
        "function_type": "function", "module": "os", "output_shape": None,
        "output_shape_type": "raw", "output_shape_module": None, "arguments": {}}}
    return _write(out, "lambda2.h5", _keras2_h5(layer))


def _keras2_lambda_code(out: Path) -> Built:
    code = _lambda_code(str(out / "MARKER-keras2-h5-lambda-code"))
    layer = {"class_name": "Lambda", "config": {
        "name": "lambda", "trainable": True, "dtype": "float32", "function": [code, None, None],
        "function_type": "lambda", "module": "__main__", "output_shape": None,
        "output_shape_type": "raw", "output_shape_module": None, "arguments": {}}}
    return _write(out, "lambda-code.h5", _keras2_h5(layer))


def _hdf5(build: Callable[[Any], None], **kwargs: Any) -> bytes:
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w", **kwargs) as f:
        build(f)
    return buffer.getvalue()


def _external_link(f: Any) -> None:
    import h5py

    f.create_group("layers").create_group("dense").create_group("vars")
    f["layers/dense/vars/0"] = h5py.ExternalLink("/etc/secrets/weights.h5", "/kernel")


def _external_storage(f: Any) -> None:
    f.create_dataset("kernel", shape=(4,), dtype="f4", external=[("/etc/hostname", 0, 16)])


def _virtual(f: Any) -> None:
    import h5py

    layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
    layout[:] = h5py.VirtualSource("/etc/secrets/other.h5", "data", shape=(4,))
    f.create_virtual_dataset("kernel", layout)


def _plugin_filter(out: Path) -> Built:
    import numpy as np

    data = bytearray(_hdf5(lambda f: f.create_dataset(
        "kernel", data=np.arange(64.0), chunks=(8,), shuffle=True)))
    # Rewrite the shuffle filter (id 2 in a version 1 pipeline entry: id, name length 8,
    # flags, one client value, "shuffle") into id 32015 (zstd), which only a plugin provides.
    entry = b"\x02\x00\x08\x00\x01\x00\x01\x00shuffle\x00"
    at = data.index(entry)
    data[at:at + 2] = (32015).to_bytes(2, "little")
    return _write(out, "plugin.h5", bytes(data))


KERAS_MALICIOUS: dict[str, Callable[[Path], Built]] = {
    "keras-lambda-layer": _keras_lambda,
    "keras-function-module": _keras_edit("function-module", _set_activation(_obj(
        "os", "function", "system", "function"))),
    "keras-registered-custom": _keras_edit("custom", _add_layer(_obj(
        "mypkg.layers", "Backdoor", {"name": "backdoor"}, "mypkg>Backdoor"))),
    "keras-builtin-custom-name": _keras_edit("custom-name", _add_layer(_obj(
        "keras.layers", "Dense", {"name": "d"}, "evil>Dense"))),
    "keras-module-outside-keras": _keras_edit("subprocess", _add_layer(_obj(
        "subprocess", "Popen", {"args": ["touch", "x"]}))),
    "keras-tfsmlayer": _keras_edit("tfsm", _add_layer(_obj(
        "keras.layers", "TFSMLayer", {"filepath": "/tmp/attacker/savedmodel",
                                      "call_endpoint": "serve"}))),
    "keras-vocabulary-path": _keras_edit("vocabulary", _add_layer(_obj(
        "keras.layers", "StringLookup", {"name": "lookup", "vocabulary": "/etc/passwd"}))),
    "keras-tfoplambda-io": lambda out: _write(out, "tfop.h5", _keras2_h5({
        "class_name": "TFOpLambda", "config": {"name": "tf.io.write_file", "trainable": True,
                                               "dtype": "float32", "function": "io.write_file"}})),
    "keras2-h5-lambda-function": _keras2_lambda_function,
    "keras2-h5-lambda-code": _keras2_lambda_code,
    "keras-pickle-asset": lambda out: _write(out, "pickle-asset.keras", _keras_zip(*_mlp(), {
        "assets/lookup/state.pkl": PICKLE_PAYLOADS["pickle-os-system"][0](
            str(out / "MARKER-keras-pickle-asset"))})),
    "keras-config-not-json": lambda out: _write(out, "notjson.keras", _keras_zip_raw(
        b"{'class_name': 'Sequential'")),
    "hdf5-external-link": lambda out: _write(out, "extlink.h5", _hdf5(_external_link)),
    "hdf5-external-storage": lambda out: _write(out, "extstore.h5", _hdf5(_external_storage)),
    "hdf5-virtual-dataset": lambda out: _write(out, "vds.h5", _hdf5(_virtual)),
    "hdf5-plugin-filter": _plugin_filter,
    "hdf5-truncated": lambda out: _write(out, "truncated.h5", _mlp()[1][:600]),
}


def _keras_zip_raw(config: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("config.json", config)
        archive.writestr("model.weights.h5", _mlp()[1])
    return buffer.getvalue()


assert not set(KERAS_BENIGN) & set(KERAS_MALICIOUS)

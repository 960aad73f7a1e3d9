"""Generate ``src/garrison/scanning/keras_names.json``: the Keras objects a config may name.

Run with Keras 3 installed (any backend; the scanner itself never imports Keras)::

    KERAS_BACKEND=torch python tests/vectors/scanning/generate_keras_names.py

It collects, from the installed Keras:

* ``classes``: every class exported under the modelling namespaces (layers, initializers,
  regularizers, constraints, losses, metrics, optimizers and their schedules, dtype
  policies, models), under both the public path a config names (``keras.layers.Dense``)
  and the defining module (``keras.src.layers.core.dense.Dense``), plus every
  ``KerasSaveable`` or ``Operation`` subclass in ``keras.src.ops`` (functional graphs that
  call ``keras.ops``) and ``keras.src.models`` (``Functional``), and the backend-specific
  optimizer classes (read from the source files, since other backends cannot be imported);
* ``functions``: the functions a config may name (activations, losses, metrics), under the
  public path, the defining module and the bare name (``module: "builtins"``);
* ``legacy_classes``: the bare class names a legacy (Keras 2 / ``.h5``) config may name:
  the class names above plus the Keras 2 names listed in ``KERAS2_ONLY``.

Layers that run code or read files named by the config are left out on purpose and are
refused by the scanner with their own rule: ``Lambda`` (marshalled Python bytecode),
``TFSMLayer`` (loads a TensorFlow SavedModel from a path), ``TorchModuleWrapper``
(``torch.load`` of bytes in the config), ``JaxLayer``/``FlaxLayer`` (wrap arbitrary
callables).
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[3] / "src" / "garrison" / "scanning" / "keras_names.json"
NAMESPACES = ("keras", "keras.layers", "keras.initializers", "keras.regularizers",
              "keras.constraints", "keras.losses", "keras.metrics", "keras.optimizers",
              "keras.optimizers.schedules", "keras.dtype_policies", "keras.models",
              "keras.activations", "keras.quantizers")
FUNCTION_NAMESPACES = ("keras.activations", "keras.losses", "keras.metrics")
EXCLUDED = frozenset({"Lambda", "TFSMLayer", "TorchModuleWrapper", "JaxLayer", "FlaxLayer"})
#: Keras 2 (tf.keras) layer and model names that Keras 3 no longer exports; legacy
#: configs name them without a module (the loader resolves them in its own namespace).
KERAS2_ONLY = ("Functional", "Model", "Sequential", "CuDNNGRU", "CuDNNLSTM",
               "LocallyConnected1D", "LocallyConnected2D", "ThresholdedReLU",
               "DenseFeatures", "SlicingOpLambda", "TFOpLambda", "Convolution1D",
               "Convolution2D", "Convolution3D", "Convolution2DTranspose",
               "Convolution3DTranspose", "Deconvolution2D", "Deconvolution3D",
               "SeparableConvolution1D", "SeparableConvolution2D", "AtrousConvolution1D",
               "AtrousConvolution2D", "RandomFourierFeatures", "Merge", "InputSpec",
               "VarianceScaling", "glorot_uniform", "glorot_normal", "he_uniform",
               "he_normal", "lecun_uniform", "lecun_normal", "zeros", "ones", "orthogonal",
               "identity", "constant", "uniform", "normal", "truncated_normal",
               "random_uniform", "random_normal", "l1", "l2", "l1_l2", "max_norm", "non_neg",
               "unit_norm", "min_max_norm", "radial_constraint")


def main() -> int:
    from keras.src.ops.operation import Operation
    from keras.src.saving.keras_saveable import KerasSaveable

    classes: set[str] = set()
    functions: set[str] = set()
    bare_functions: set[str] = set()
    for ns in NAMESPACES:
        module = importlib.import_module(ns)
        for name in dir(module):
            obj = getattr(module, name)
            if inspect.isclass(obj) and obj.__module__.startswith("keras."):
                if obj.__name__ in EXCLUDED or name in EXCLUDED:
                    continue
                classes.add(f"{ns}.{name}")
                classes.add(f"{obj.__module__}.{obj.__name__}")
            elif ns in FUNCTION_NAMESPACES and inspect.isfunction(obj) and not name.startswith("_"):
                if name in ("get", "serialize", "deserialize"):
                    continue
                functions.add(f"{ns}.{name}")
                functions.add(f"{obj.__module__}.{obj.__name__}")
                bare_functions.add(name)
    import keras.src.models as models_pkg
    import keras.src.ops as ops_pkg

    for package in (ops_pkg, models_pkg):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith("_test"):
                continue
            module = importlib.import_module(info.name)
            for name, obj in vars(module).items():
                if (inspect.isclass(obj) and issubclass(obj, (KerasSaveable, Operation))
                        and obj.__module__ == info.name and name not in EXCLUDED):
                    classes.add(f"{info.name}.{name}")
    backend_dir = Path(ops_pkg.__file__).parents[1] / "backend"
    sources = [*backend_dir.glob("*/optimizers/*.py"), *backend_dir.glob("*/optimizer.py")]
    for source in sorted(sources):
        rel = source.relative_to(backend_dir.parents[2]).with_suffix("")
        module_name = ".".join(rel.parts)
        for match in re.finditer(r"^class (\w+)\(", source.read_text(), re.M):
            if not match.group(1).startswith("_"):
                classes.add(f"{module_name}.{match.group(1)}")
    legacy = {c.rsplit(".", 1)[1] for c in classes} | set(KERAS2_ONLY)
    import keras

    data = {
        "keras_version": keras.__version__,
        "classes": sorted(classes),
        "functions": sorted(functions),
        "builtin_functions": sorted(bare_functions),
        "legacy_classes": sorted(legacy),
    }
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{OUT}: {len(classes)} classes, {len(functions)} functions, {len(legacy)} legacy")
    return 0


if __name__ == "__main__":
    sys.exit(main())

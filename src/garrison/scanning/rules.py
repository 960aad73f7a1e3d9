"""The scanner's rule catalogue: every finding carries one of these stable, kebab-case ids.

A rule's ``effect`` says what a finding does to the verdict: ``refuse`` makes the artifact
``refused``, ``unscannable`` makes it ``unscannable`` (which refuses too, but says "we could
not finish looking" rather than "we saw something bad"), ``none`` is informational. A report
with both kinds of finding is ``refused``: evidence of an attack outranks a parse failure,
because a real unpickler executes everything it reads before it hits the bad byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["RULES", "Effect", "Rule", "Severity", "get_rule"]

Severity = Literal["critical", "high", "medium", "low", "info"]
Effect = Literal["refuse", "unscannable", "none"]


@dataclass(frozen=True)
class Rule:
    """One documented rule."""

    id: str
    severity: Severity
    effect: Effect
    summary: str


def _r(rule_id: str, severity: Severity, effect: Effect, summary: str) -> Rule:
    return Rule(rule_id, severity, effect, summary)


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        # Pickle opcode analysis.
        _r("pickle-global-not-allowed", "critical", "refuse",
           "The pickle imports a global that is not on the allow-list."),
        _r("pickle-unresolvable-global", "critical", "refuse",
           "STACK_GLOBAL takes its module or name from something other than a string "
           "constant, so the import cannot be decided statically."),
        _r("pickle-ext-code", "critical", "refuse",
           "EXT1/EXT2/EXT4 load a global through the copyreg extension registry, which "
           "cannot be resolved statically."),
        _r("pickle-call-non-global", "critical", "refuse",
           "REDUCE, NEWOBJ, NEWOBJ_EX or OBJ calls something that is not a directly "
           "imported, allow-listed global (for example the result of another call)."),
        _r("pickle-mutates-global", "high", "refuse",
           "BUILD, SETITEM(S), APPEND(S) or ADDITEMS targets an imported global, which "
           "would monkey-patch a class or module-level object."),
        _r("pickle-reconstructor-args", "high", "refuse",
           "A reconstructor (copyreg._reconstructor / __newobj__, sklearn's newObj, pandas' "
           "_new_Index, Cython's __pyx_unpickle_*) is called with a class argument that is "
           "not a directly imported global."),
        _r("pickle-guarded-call", "critical", "refuse",
           "A guarded global (builtins.getattr, numpy's _ufunc_reconstruct, ZoneInfo's "
           "_unpickle, pyarrow's _restore_array) is called with arguments outside its one "
           "allowed form, or is stored, passed or returned instead of being called."),
        _r("pickle-partial-target", "critical", "refuse",
           "functools.partial wraps, in its constructor or in the state BUILD restores, "
           "something other than a directly imported, allow-listed function or class."),
        _r("pickle-arrow-array-forged", "critical", "refuse",
           "A pyarrow array rebuilt by _restore_array has buffers that contradict its type, "
           "length and offsets (or cannot be read statically): pyarrow does not validate "
           "them and would read memory outside the buffers."),
        _r("pickle-numpy-dtype-forged", "critical", "refuse",
           "A numpy.dtype is rebuilt with a state that contradicts its type string (for "
           "example an object dtype whose flags deny holding objects): numpy would read "
           "raw bytes as object pointers."),
        _r("pickle-persistent-id", "medium", "refuse",
           "A persistent id appears in a format whose loader defines no persistent_load."),
        _r("pickle-trailing-data", "high", "refuse",
           "Bytes after the last STOP are not a further complete pickle."),
        _r("pickle-malformed", "high", "unscannable",
           "The pickle stream is truncated or invalid, or exceeds the VM's stack caps."),
        # joblib.
        _r("joblib-bad-wrapper", "high", "refuse",
           "A joblib NumpyArrayWrapper's metadata cannot be resolved exactly, so the "
           "position where the pickle resumes after the array bytes is unknown."),
        # PyTorch.
        _r("torch-bad-persistent-id", "high", "refuse",
           "A PyTorch persistent id is not a well-formed ('storage', type, key, "
           "location, numel[, view]) record."),
        _r("torch-missing-storage", "medium", "refuse",
           "A PyTorch persistent id names a storage record that is not in the archive."),
        _r("torch-storage-size-mismatch", "medium", "refuse",
           "A PyTorch storage record's size disagrees with its persistent id."),
        _r("torch-torchscript-code", "high", "refuse",
           "The PyTorch archive carries TorchScript or Python code."),
        # numpy.
        _r("npy-bad-header", "high", "unscannable",
           "The .npy header cannot be parsed safely, or the data is truncated."),
        _r("npy-trailing-data", "medium", "refuse",
           "The .npy file has bytes after its array data."),
        # skops.
        _r("skops-untrusted-type", "high", "refuse",
           "The skops schema names a type or function that is not on the allow-list."),
        _r("skops-unsafe-node", "high", "refuse",
           "The skops schema uses a node kind that resolves names dynamically "
           "(MethodNode, OperatorFuncNode), an unknown loader, or a PartialNode whose "
           "function is not named directly."),
        _r("skops-bad-schema", "high", "unscannable",
           "The skops schema.json is missing, not JSON, or not the expected tree."),
        _r("skops-missing-file", "medium", "refuse",
           "The skops schema references an array file that is not in the archive."),
        # ONNX.
        _r("onnx-unknown-domain", "high", "refuse",
           "A node or opset import uses an operator domain that is not allowed."),
        _r("onnx-external-data-escape", "critical", "refuse",
           "An external-data location is absolute, climbs with '..', or resolves "
           "(through symlinks) outside the model's directory."),
        _r("onnx-external-data-missing", "medium", "refuse",
           "An external-data file does not exist next to the model."),
        _r("onnx-malformed", "high", "unscannable",
           "The ONNX protobuf cannot be walked."),
        # safetensors.
        _r("safetensors-bad-header", "high", "refuse",
           "The safetensors header is out of bounds, not strict JSON, or describes "
           "tensors that are unknown, overlapping, gapped or outside the file."),
        # Keras and HDF5.
        _r("keras-lambda-layer", "critical", "refuse",
           "The Keras config holds a Lambda layer or a __lambda__ function (marshalled "
           "Python bytecode, or a function imported by module and name), which Keras runs "
           "when it loads the model."),
        _r("keras-untrusted-object", "high", "refuse",
           "The Keras config names a class, function or module outside the allow-list of "
           "Keras built-ins (a custom or registered object, a module outside keras, a "
           "TensorFlow op outside the arithmetic namespaces)."),
        _r("keras-file-reference", "high", "refuse",
           "The Keras config names a file that Keras would read when it loads the model (a "
           "vocabulary path, a SavedModel directory)."),
        _r("keras-bad-config", "high", "unscannable",
           "The Keras archive or HDF5 file lacks a readable model config, or the config is "
           "not JSON or not a Keras config tree."),
        _r("hdf5-external-reference", "critical", "refuse",
           "The HDF5 file links to another file or stores data outside itself (external "
           "links, external raw storage, virtual datasets), which a reader would open."),
        _r("hdf5-filter-not-allowed", "high", "refuse",
           "A dataset uses an HDF5 filter that is not built into the HDF5 library, which "
           "makes the reader load a filter plugin from disk."),
        _r("hdf5-malformed", "high", "unscannable",
           "The HDF5 structure cannot be walked (bad signatures, addresses outside the file, "
           "cycles, unsupported versions or storage layouts, caps exceeded)."),
        # Gradient-boosting text and JSON models.
        _r("xgboost-invalid-model", "medium", "unscannable",
           "The file looks like an XGBoost JSON/UBJSON model but does not parse as one."),
        _r("lightgbm-invalid-model", "medium", "unscannable",
           "The file looks like a LightGBM text model but does not parse as one."),
        # Containers and compression.
        _r("archive-path-escape", "critical", "refuse",
           "A member name is absolute, has a drive letter or climbs with '..'."),
        _r("archive-link-escape", "critical", "refuse",
           "A symlink or hardlink member points outside the archive."),
        _r("archive-special-member", "high", "refuse",
           "A tar member is a device node or FIFO."),
        _r("archive-bomb", "critical", "refuse",
           "Decompressed sizes exceed the policy caps, the compression ratio is above "
           "the cap, or zip members overlap."),
        _r("archive-too-many-members", "high", "refuse",
           "The archive has more members than the policy allows."),
        _r("archive-too-deep", "high", "refuse",
           "Containers are nested deeper than the policy allows."),
        _r("archive-duplicate-member", "medium", "refuse",
           "Two archive members share a name, so readers disagree on which one is used."),
        _r("archive-corrupt", "high", "unscannable",
           "The zip or tar structure cannot be read (bad headers, CRC, encryption)."),
        _r("compression-corrupt", "high", "unscannable",
           "The compressed stream is truncated or corrupt, or has trailing garbage."),
        _r("compression-unsupported", "high", "unscannable",
           "The compression format is recognised but not supported by the stdlib (lz4)."),
        # Whole-file outcomes.
        _r("format-unknown", "high", "unscannable",
           "No scanner recognises the format; unknown formats are refused, never waved "
           "through."),
        _r("file-empty", "high", "unscannable", "The file is empty."),
        _r("file-too-large", "high", "unscannable",
           "The file is larger than the policy's max_bytes."),
        _r("file-unreadable", "high", "unscannable",
           "The path does not exist, is not a regular file, or cannot be read."),
        _r("scanner-error", "high", "unscannable",
           "A scanner failed unexpectedly; the artifact is refused rather than trusted."),
    )
}


def get_rule(rule_id: str) -> Rule:
    """Return the rule with that id (raises ``KeyError`` for an unknown id: a bug)."""
    return RULES[rule_id]

"""Allow-list data for PyTorch checkpoints: whole-module pickles and tensor metadata.

``torch.save(model)`` pickles the module objects themselves: each ``torch.nn`` module class
is created with ``__newobj__`` and filled from a state dict (parameters, buffers, child
modules, hook dictionaries, hyper-parameters), tensors are rebuilt from storages the
archive carries. The classes below are PyTorch's own layers (from torch 2.13's
``torch.nn.modules``); a model's *own* class (``mypkg.net.Net``, ``__main__.Net``) is code
outside the file and is refused until the operator admits it with ``--allow``.
"""

from __future__ import annotations

from garrison.scanning._allow_entry import AllowEntry, same

__all__ = ["TORCH_DTYPES", "TORCH_EXACT", "TORCH_NN_MODULES", "TORCH_QSCHEMES",
           "TORCH_STORAGE_ITEMSIZE"]

#: ``torch.nn.modules.<file>`` -> the ``torch.nn.Module`` subclasses it defines.
TORCH_NN_MODULES: dict[str, frozenset[str]] = {
    "activation": frozenset({
        "CELU", "ELU", "GELU", "GLU", "Hardshrink", "Hardsigmoid", "Hardswish", "Hardtanh",
        "LeakyReLU", "LogSigmoid", "LogSoftmax", "Mish", "MultiheadAttention", "PReLU",
        "RReLU", "ReLU", "ReLU6", "SELU", "SiLU", "Sigmoid", "Softmax", "Softmax2d", "Softmin",
        "Softplus", "Softshrink", "Softsign", "Tanh", "Tanhshrink", "Threshold"}),
    "adaptive": frozenset({"AdaptiveLogSoftmaxWithLoss"}),
    "batchnorm": frozenset({"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d",
                            "LazyBatchNorm2d", "LazyBatchNorm3d", "SyncBatchNorm"}),
    "channelshuffle": frozenset({"ChannelShuffle"}),
    "container": frozenset({"Container", "ModuleDict", "ModuleList", "ParameterDict",
                            "ParameterList", "Sequential"}),
    "conv": frozenset({"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                       "ConvTranspose3d", "LazyConv1d", "LazyConv2d", "LazyConv3d",
                       "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d"}),
    "distance": frozenset({"CosineSimilarity", "PairwiseDistance"}),
    "dropout": frozenset({"AlphaDropout", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d",
                          "FeatureAlphaDropout"}),
    "flatten": frozenset({"Flatten", "Unflatten"}),
    "fold": frozenset({"Fold", "Unfold"}),
    "instancenorm": frozenset({"InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
                               "LazyInstanceNorm1d", "LazyInstanceNorm2d",
                               "LazyInstanceNorm3d"}),
    "linear": frozenset({"Bilinear", "Identity", "LazyLinear", "Linear",
                         "NonDynamicallyQuantizableLinear"}),
    "loss": frozenset({
        "BCELoss", "BCEWithLogitsLoss", "CTCLoss", "CosineEmbeddingLoss", "CrossEntropyLoss",
        "GaussianNLLLoss", "HingeEmbeddingLoss", "HuberLoss", "KLDivLoss", "L1Loss",
        "LinearCrossEntropyLoss", "MSELoss", "MarginRankingLoss", "MultiLabelMarginLoss",
        "MultiLabelSoftMarginLoss", "MultiMarginLoss", "NLLLoss", "NLLLoss2d",
        "PoissonNLLLoss", "SmoothL1Loss", "SoftMarginLoss", "TripletMarginLoss",
        "TripletMarginWithDistanceLoss"}),
    "module": frozenset({"Module"}),
    "normalization": frozenset({"CrossMapLRN2d", "GroupNorm", "LayerNorm", "LocalResponseNorm",
                                "RMSNorm"}),
    "padding": frozenset({
        "CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
        "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
        "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d",
        "ZeroPad3d"}),
    "pixelshuffle": frozenset({"PixelShuffle", "PixelUnshuffle"}),
    "pooling": frozenset({
        "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
        "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
        "FractionalMaxPool2d", "FractionalMaxPool3d", "LPPool1d", "LPPool2d", "LPPool3d",
        "MaxPool1d", "MaxPool2d", "MaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"}),
    "rnn": frozenset({"GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell",
                      "RNNCellBase"}),
    "sparse": frozenset({"Embedding", "EmbeddingBag"}),
    "transformer": frozenset({"Transformer", "TransformerDecoder", "TransformerDecoderLayer",
                              "TransformerEncoder", "TransformerEncoderLayer"}),
    "upsampling": frozenset({"Upsample", "UpsamplingBilinear2d", "UpsamplingNearest2d"}),
}

#: Element size in bytes of each PyTorch storage type a persistent id may name.
TORCH_STORAGE_ITEMSIZE: dict[str, int] = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
    "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
    "ByteStorage": 1, "BoolStorage": 1, "ComplexDoubleStorage": 16,
    "ComplexFloatStorage": 8, "QUInt8Storage": 1, "QInt8Storage": 1, "QInt32Storage": 4,
    "QUInt4x2Storage": 1, "QUInt2x4Storage": 1, "UntypedStorage": 1,
}

#: dtype singletons (``torch.float32`` pickles as that global name).
TORCH_DTYPES = frozenset({
    "float16", "float32", "float64", "bfloat16", "half", "float", "double", "int8", "int16",
    "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool", "complex32", "complex64",
    "complex128", "cfloat", "cdouble", "chalf", "short", "int", "long", "qint8", "qint32",
    "quint8", "quint4x2", "quint2x4", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
    "float8_e5m2fnuz", "float8_e8m0fnu",
})

#: Quantization-scheme singletons stored in quantized tensors' metadata.
TORCH_QSCHEMES = frozenset({"per_tensor_affine", "per_channel_affine",
                            "per_channel_affine_float_qparams", "per_tensor_symmetric",
                            "per_channel_symmetric"})

TORCH_EXACT: dict[str, AllowEntry] = {
    **same(
        "PyTorch tensor rebuild functions: they view a storage delivered by persistent_load "
        "(ids validated by the torch-* rules) with a size, stride and offset.",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch.Size",
    ),
    **same(
        "Tensor metadata values: a device is a type and an index (torch.device('cuda', 0)); "
        "_get_layout returns one of torch's layout singletons by its name and nothing else.",
        "torch.device", "torch.serialization._get_layout",
    ),
    **same(
        "Activation functions that transformer layers keep as an attribute (activation=F.relu, "
        "or 'gelu' resolved to F.gelu): they compute on tensors.",
        *(f"torch.nn.functional.{n}" for n in (
            "relu", "gelu", "silu", "elu", "selu", "celu", "leaky_relu", "mish", "hardswish",
            "softplus", "tanh", "sigmoid", "glu", "relu6")),
        "torch.relu", "torch.tanh", "torch.sigmoid",
    ),
}

"""Generated gRPC stubs of the Open Inference Protocol v2 (``inference.GRPCInferenceService``).

``grpc_predict_v2_pb2*.py`` are protoc's output, unedited, for the protocol's published
definition: KServe's ``docs/predict-api/v2/grpc_predict_v2.proto`` (Apache-2.0,
kserve/kserve commit 3dc5bfb4a5d809819876f34ef926aca590438257, the last to change it),
compiled by ``grpcio-tools`` through a descriptor set, so they carry no comments of the
source. ``tests/gateway/test_grpc_drift.py`` regenerates them from the descriptor they
embed (any hand edit or generator change shows) and compares that descriptor with the
one KServe publishes and with Triton's (any drift from the protocol shows).

Regenerate with ``python -m tests.gateway.grpc_codegen --write`` after upgrading
``grpcio-tools``.
"""

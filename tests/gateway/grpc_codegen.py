"""Regenerate the committed gRPC stubs from the descriptor they embed (the drift check's
generator). ``python -m tests.gateway.grpc_codegen --write`` rewrites them in place."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from google.protobuf import descriptor_pb2

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "garrison" / "gateway" / "grpc_v2"
PROTO = "garrison/gateway/grpc_v2/grpc_predict_v2.proto"
FILES = ("grpc_predict_v2_pb2.py", "grpc_predict_v2_pb2_grpc.py", "grpc_predict_v2_pb2.pyi")


def regenerate(out: Path) -> dict[str, bytes]:
    """protoc's output for the embedded descriptor, by file name."""
    from garrison.gateway.grpc_v2 import grpc_predict_v2_pb2

    files = descriptor_pb2.FileDescriptorSet()
    files.file.add().ParseFromString(grpc_predict_v2_pb2.DESCRIPTOR.serialized_pb)
    descriptor_set = out / "set.pb"
    descriptor_set.write_bytes(files.SerializeToString())
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc",
                    f"--descriptor_set_in={descriptor_set}", f"--python_out={out}",
                    f"--grpc_python_out={out}", f"--pyi_out={out}", PROTO],
                   check=True, capture_output=True, timeout=120)
    return {name: (out / PROTO).with_name(name).read_bytes() for name in FILES}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        generated = regenerate(Path(tmp))
    if "--write" in sys.argv:
        for name, data in generated.items():
            (PACKAGE / name).write_bytes(data)
    stale = [n for n, d in generated.items() if (PACKAGE / n).read_bytes() != d]
    print("stale: " + ", ".join(stale) if stale else "up to date")
    sys.exit(1 if stale and "--write" not in sys.argv else 0)

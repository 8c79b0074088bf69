"""Minimal safetensors writer/reader (float32 and uint8 only), so the model scripts need only numpy.

Format: 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and
byte offsets, then the raw little-endian data.
"""

import json
import struct

import numpy as np

_DTYPES = {"F32": np.dtype("<f4"), "U8": np.dtype("u1")}


def save(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        dtype = next((k for k, v in _DTYPES.items() if v == array.dtype), None)
        if dtype is None:
            raise ValueError(f"{name}: unsupported dtype {array.dtype}")
        blob = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def load(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return {
        name: np.frombuffer(data[s:e], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
        for name, info in header.items()
        for s, e in [info["data_offsets"]]
    }

"""A minimal GGUF v3 writer for the reference models (F32 tensors, scalar and
string metadata), written from the format's specification: header, key/value
pairs, tensor infos (ne[0] = the fastest-varying dimension), data aligned to 32."""
import struct

import numpy as np

ALIGN = 32
_U32, _I32, _F32, _STRING, _U64 = 4, 5, 6, 8, 10


def _string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def _value(v):
    if isinstance(v, str):
        return struct.pack("<I", _STRING) + _string(v)
    if isinstance(v, float):
        return struct.pack("<If", _F32, v)
    return struct.pack("<II", _U32, v)


def write(path, metadata, tensors):
    """metadata: key -> int (u32) / float (f32) / str; tensors: name -> float array (stored as F32)."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)))
    for k, v in metadata.items():
        out += _string(k) + _value(v)
    blobs, offset = [], 0
    for name, a in tensors.items():
        a = np.asarray(a, dtype="<f4")
        out += _string(name) + struct.pack("<I", a.ndim) + b"".join(struct.pack("<Q", n) for n in a.shape[::-1])
        out += struct.pack("<IQ", 0, offset)
        data = a.tobytes()
        data += b"\0" * (-len(data) % ALIGN)
        blobs.append(data)
        offset += len(data)
    out += b"\0" * (-len(out) % ALIGN)
    with open(path, "wb") as f:
        f.write(bytes(out) + b"".join(blobs))

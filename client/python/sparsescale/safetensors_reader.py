"""A small reader of the safetensors format (the trainer's checkpoint files).

The layout: an 8-byte little-endian header length, a JSON header mapping each tensor name to
{"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data after the header) and
an optional "__metadata__" of strings, then the data. The `safetensors` package is used when it
is installed; this reader covers the dtypes a checkpoint holds and the common float/int ones.
"""

import struct

# Safetensors dtype -> numpy dtype (little-endian). numpy itself is imported only when a file
# is read: importing it costs a script about 0.2 s it may never need.
_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
    "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}


class SafetensorsFormatError(ValueError):
    """The bytes are not a well-formed safetensors file; the message says what is wrong."""


def _header(data):
    if len(data) < 8:
        raise SafetensorsFormatError(f"file of {len(data)} bytes is shorter than its 8-byte header")
    (length,) = struct.unpack_from("<Q", data, 0)
    if 8 + length > len(data):
        raise SafetensorsFormatError(
            f"header length {length} runs past the end ({len(data)} bytes)")
    import json  # noqa: PLC0415 (imported when a file is read, as numpy)

    try:
        header = json.loads(bytes(data[8:8 + length]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsFormatError(f"header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsFormatError("header is not a JSON object")
    return header, 8 + length


def _tensor(name, entry, body):
    import numpy as np  # noqa: PLC0415 (see _DTYPES)

    try:
        dtype = _DTYPES[entry["dtype"]]
        shape = [int(d) for d in entry["shape"]]
        begin, end = (int(o) for o in entry["data_offsets"])
    except KeyError as e:
        raise SafetensorsFormatError(f"tensor {name!r}: missing or unsupported {e}") from None
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    dtype = np.dtype(dtype)
    if not 0 <= begin <= end <= len(body) or end - begin != count * dtype.itemsize:
        raise SafetensorsFormatError(
            f"tensor {name!r}: data_offsets [{begin}, {end}] do not hold {count} x "
            f"{entry['dtype']} inside {len(body)} data bytes")
    array = np.frombuffer(body, dtype=dtype, count=count, offset=begin)
    return array.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def read_safetensors_ours(data):
    """Parses safetensors bytes: (dict name -> numpy array, metadata dict). Raises
    SafetensorsFormatError naming the tensor and the problem."""
    header, start = _header(data)
    metadata = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[start:]
    return {name: _tensor(name, entry, body) for name, entry in header.items()}, metadata


def read_safetensors(data):
    """Safetensors bytes -> (dict name -> numpy array, metadata dict), through the
    `safetensors` package when it is installed, else read_safetensors_ours()."""
    try:
        from safetensors.numpy import load  # noqa: PLC0415 (optional dependency)
    except ImportError:
        return read_safetensors_ours(data)
    header, _ = _header(data)
    return load(bytes(data)), header.get("__metadata__", {}) or {}

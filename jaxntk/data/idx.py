"""The IDX format of the MNIST family, read and written (gzipped or not).

Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
0x0E float64), the number of dimensions, each dimension as a big-endian uint32, then the data in
C order, big-endian. A file is gzipped when it starts with the gzip magic bytes, whatever its name.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
CODES = {dtype.newbyteorder("="): code for code, dtype in DTYPES.items()}
GZIP_MAGIC = b"\x1f\x8b"


def _raw_bytes(path: Path) -> bytes:
    data = Path(path).read_bytes()
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(
            f"{path}: corrupt or truncated gzip ({err}); delete the file and obtain it again"
        ) from err


def read_idx(path) -> np.ndarray:
    """The array stored in an IDX file (native byte order).

    Raises:
      ValueError: bad magic bytes, unknown type code, or a data size that does not match the
        header (a truncated or padded file), each naming the file.
    """
    data = _raw_bytes(path)
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise ValueError(f"{path}: not an IDX file (bad magic bytes {data[:4]!r})")
    code, ndim = data[2], data[3]
    if code not in DTYPES:
        raise ValueError(f"{path}: unknown IDX type code 0x{code:02X}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes, {ndim} dimensions)")
    shape = tuple(int(v) for v in np.frombuffer(data, ">u4", ndim, offset=4))
    dtype = DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX header says shape {shape} ({expected} data bytes) but the file holds "
            f"{len(data) - header}; it is truncated or corrupt — obtain it again"
        )
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def write_idx(path, array, *, compress: bool | None = None) -> Path:
    """Write ``array`` as IDX; gzipped when ``compress`` (default: when the name ends in .gz)."""
    path = Path(path)
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in CODES:
        raise ValueError(
            f"IDX cannot store dtype {array.dtype}; use one of {sorted(map(str, CODES))}"
        )
    code = CODES[native]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + np.ascontiguousarray(array, DTYPES[code]).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path

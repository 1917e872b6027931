"""The state codec: msgpack plus tagged extensions, never pickle by default.

Checkpointed state (window buffers, per-key state, kernel partials) must be
built from: None, bool, int (any size), float, str, bytes, list, dict, and
tuple/set/frozenset, which are tagged so they come back as themselves; numpy
arrays and scalars of numeric or bool dtype (a streaming model's weights, see
:mod:`etlcore.ml`) are tagged with their dtype and shape and come back as
arrays, bit for bit, without pickle (object arrays are refused). Any
other type raises :class:`~etlcore.errors.CheckpointError` naming it, so
a job finds out on its first snapshot, not on recovery. ``codec="pickle"``
is an explicit opt-in for trusted checkpoints only.
"""

from __future__ import annotations

import pickle
from typing import Any

import msgpack

from etlcore.errors import CheckpointError

_TUPLE, _SET, _FROZENSET, _BIGINT, _NDARRAY = 1, 2, 3, 4, 5
_ARRAY_KINDS = "biufc"  # bool, int, uint, float, complex: fixed-size, no Python objects


def _pack_array(obj: Any) -> msgpack.ExtType | None:
    """A numpy array or scalar as ``[dtype, shape, bytes]``; None if ``obj`` is not one."""
    if type(obj).__module__ != "numpy":  # numpy stays optional: never imported here
        return None
    import numpy as np

    if not isinstance(obj, (np.ndarray, np.generic)) or obj.dtype.kind not in _ARRAY_KINDS:
        return None
    arr = np.asarray(obj)
    scalar = isinstance(obj, np.generic)
    body = [arr.dtype.str, list(arr.shape), np.ascontiguousarray(arr).tobytes(), scalar]
    return msgpack.ExtType(_NDARRAY, _pack(body))


def _unpack_array(data: bytes) -> Any:
    import numpy as np

    dtype, shape, raw, scalar = _unpack(data)
    arr = np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
    return arr[()] if scalar else arr


def _default(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return msgpack.ExtType(_TUPLE, _pack(list(obj)))
    if isinstance(obj, frozenset):
        return msgpack.ExtType(_FROZENSET, _pack(list(obj)))
    if isinstance(obj, set):
        return msgpack.ExtType(_SET, _pack(list(obj)))
    if isinstance(obj, int):
        return msgpack.ExtType(_BIGINT, str(obj).encode())
    packed = _pack_array(obj)
    if packed is not None:
        return packed
    raise CheckpointError(
        f"cannot checkpoint a value of type {type(obj).__module__}.{type(obj).__qualname__}: "
        "state must be built from None, bool, int, float, str, bytes, list, tuple, set, dict "
        "and numeric numpy arrays "
        "(convert it in your state function, or pass state_codec='pickle' for trusted data)"
    )


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _TUPLE:
        return tuple(_unpack(data))
    if code == _SET:
        return set(_unpack(data))
    if code == _FROZENSET:
        return frozenset(_unpack(data))
    if code == _BIGINT:
        return int(data.decode())
    if code == _NDARRAY:
        return _unpack_array(data)
    raise CheckpointError(f"unknown extension type {code} in checkpointed state")


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_default, use_bin_type=True, strict_types=True)


def _unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False,
                           use_list=True)


class Codec:
    name = "msgpack"

    def encode(self, obj: Any) -> bytes:
        return _pack(obj)

    def decode(self, data: bytes) -> Any:
        return _unpack(data)


class PickleCodec(Codec):
    """Any picklable state; loading runs code, so only for checkpoints you trust."""

    name = "pickle"

    def encode(self, obj: Any) -> bytes:
        return pickle.dumps(obj, protocol=5)

    def decode(self, data: bytes) -> Any:
        return pickle.loads(data)  # noqa: S301 - explicit opt-in, documented


def get_codec(name: str) -> Codec:
    if name == "msgpack":
        return Codec()
    if name == "pickle":
        return PickleCodec()
    from etlcore.errors import ConfigError

    raise ConfigError("state_codec", "'msgpack' or 'pickle'", name)

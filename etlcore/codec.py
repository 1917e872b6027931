"""The state codec: msgpack plus tagged extensions, never pickle by default.

Checkpointed state (window buffers, per-key state, kernel partials) must be
built from: None, bool, int (any size), float, str, bytes, list, dict, and
tuple/set/frozenset, which are tagged so they come back as themselves. Any
other type raises :class:`~etlcore.errors.CheckpointError` naming it, so
a job finds out on its first snapshot, not on recovery. ``codec="pickle"``
is an explicit opt-in for trusted checkpoints only.
"""

from __future__ import annotations

import pickle
from typing import Any

import msgpack

from etlcore.errors import CheckpointError

_TUPLE, _SET, _FROZENSET, _BIGINT = 1, 2, 3, 4


def _default(obj: Any) -> Any:
    if isinstance(obj, tuple):
        return msgpack.ExtType(_TUPLE, _pack(list(obj)))
    if isinstance(obj, frozenset):
        return msgpack.ExtType(_FROZENSET, _pack(list(obj)))
    if isinstance(obj, set):
        return msgpack.ExtType(_SET, _pack(list(obj)))
    if isinstance(obj, int):
        return msgpack.ExtType(_BIGINT, str(obj).encode())
    raise CheckpointError(
        f"cannot checkpoint a value of type {type(obj).__module__}.{type(obj).__qualname__}: "
        "state must be built from None, bool, int, float, str, bytes, list, tuple, set, dict "
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

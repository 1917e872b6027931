"""Flume's AvroSourceProtocol over Avro IPC: handshake, call decoding, status replies.

The protocol text is Flume 1.11's own (``AvroSourceProtocol.avpr``, as the
flume-ng-sdk jar embeds it): Java names a protocol by the MD5 of exactly that
text, and a Flume client sends that hash guessing the server has the same
protocol. Keeping the text byte for byte lets the handshake answer ``BOTH`` at
once, with no extra round trip. The avro package parses the protocol and
reads/writes the handshake records (its IPC schemas); fastavro decodes the
events, the hot path.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from importlib import resources
from typing import Any

from etlcore.plugin.imports import require_module

avro_io = require_module("avro.io", "avro>=1.11", feature="the flume source")
avro_ipc = require_module("avro.ipc", "avro>=1.11", feature="the flume source")
avro_protocol = require_module("avro.protocol", "avro>=1.11", feature="the flume source")
avro_errors = require_module("avro.errors", "avro>=1.11", feature="the flume source")
fastavro = require_module("fastavro", "fastavro>=1.7", feature="the flume source")

PROTOCOL_TEXT = resources.files(__package__).joinpath("AvroSourceProtocol.avpr").read_text(
    encoding="utf-8").strip()
PROTOCOL = avro_protocol.parse(PROTOCOL_TEXT)
PROTOCOL_HASH = hashlib.md5(PROTOCOL_TEXT.encode()).digest()  # noqa: S324 - Avro's naming

_EVENT = {"type": "record", "name": "AvroFlumeEvent", "namespace": "org.apache.flume.source.avro",
          "fields": [{"name": "headers", "type": {"type": "map", "values": "string"}},
                     {"name": "body", "type": "bytes"}]}
_PARAMS = {  # each message's request: a record of its parameters, read by fastavro
    "append": fastavro.parse_schema({"type": "record", "name": "append_request",
                                     "fields": [{"name": "event", "type": _EVENT}]}),
    "appendBatch": fastavro.parse_schema({
        "type": "record", "name": "appendBatch_request",
        "fields": [{"name": "events", "type": {"type": "array", "items": _EVENT}}]}),
}
_STATUS = fastavro.parse_schema({"type": "enum", "name": "Status",
                                 "namespace": "org.apache.flume.source.avro",
                                 "symbols": ["OK", "FAILED", "UNKNOWN"]})


class ProtocolError(ValueError):
    """The peer sent something that is not a Flume Avro call: close the connection."""


@dataclass
class Call:
    """One decoded call: its events (headers, body) and whether it carried a handshake."""

    method: str
    events: list[dict[str, Any]]
    handshake: bytes  # the encoded HandshakeResponse to send first (empty: none)


class Responder(avro_ipc.Responder):
    """avro's responder, naming the local protocol by Java's hash of its text."""

    def __init__(self) -> None:
        super().__init__(PROTOCOL)
        self._local_hash = PROTOCOL_HASH
        self.set_protocol_cache(PROTOCOL_HASH, PROTOCOL)


class Session:
    """One connection's protocol state: the first call carries a handshake, later ones not."""

    def __init__(self) -> None:
        self.responder = Responder()
        self.remote: Any = None  # the client's protocol once the handshake matched

    def decode(self, payload: bytes) -> Call:
        """Decode one request (all of a frame's buffers joined)."""
        stream = io.BytesIO(payload)
        decoder = avro_io.BinaryDecoder(stream)
        handshake = b""
        try:
            if self.remote is None:
                out = io.BytesIO()
                remote = self.responder.process_handshake(decoder, avro_io.BinaryEncoder(out))
                handshake = out.getvalue()
                if remote is None:  # match NONE: the client resends with its protocol
                    return Call("", [], handshake)
                self.remote = remote
            avro_ipc.META_READER.read(decoder)
            method = decoder.read_utf8()
        except (avro_errors.AvroException, UnicodeDecodeError, EOFError, ValueError) as err:
            raise ProtocolError(f"not an Avro IPC request header ({err})") from None
        schema = _PARAMS.get(method)
        if schema is None or method not in self.remote.messages:
            raise ProtocolError(f"unknown message {method[:80]!r} (AvroSourceProtocol has "
                                "append and appendBatch)")
        try:
            params = fastavro.schemaless_reader(stream, schema, None)
        except (EOFError, ValueError, UnicodeDecodeError, TypeError, IndexError,
                OverflowError, MemoryError) as err:
            raise ProtocolError(f"{method}: parameters do not decode "
                                f"({type(err).__name__}: {err})") from None
        if stream.tell() != len(payload):
            raise ProtocolError(f"{method}: {len(payload) - stream.tell()} bytes left over "
                                "after the parameters")
        events = params["events"] if method == "appendBatch" else [params["event"]]
        return Call(method, events, handshake)


def status_reply(status: str, handshake: bytes = b"") -> bytes:
    """A call response: [handshake], empty metadata, no error, the Status enum."""
    out = io.BytesIO()
    out.write(handshake)
    encoder = avro_io.BinaryEncoder(out)
    avro_ipc.META_WRITER.write({}, encoder)
    encoder.write_boolean(False)  # the error flag
    fastavro.schemaless_writer(out, _STATUS, status)
    return out.getvalue()

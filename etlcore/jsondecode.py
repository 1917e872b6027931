"""The one JSON decoder of etlcore: ``parse_json`` and every source's ``format: json``.

Everything goes through msgspec. Without a schema it builds any JSON value
(integers of any size stay exact; orjson, about 20% faster untyped, turns
integers beyond 64 bits into floats). With a schema -- ``{"id": int, "user":
str}``, type names as strings (YAML), or a :class:`msgspec.Struct` -- msgspec
parses, validates and projects
in one C pass: fields outside the schema are never built, and a record that
does not fit fails with the decoder's reason (``Expected `int`, got `str` - at
`$.id```).

:meth:`JsonDecoder.decode_many` decodes a whole batch in one call of a compiled
loop (``etlcore._fast.jsondecode_c``; ``jsondecode_ref`` is its pure-Python
twin): no Python frame per record, a Struct projected to a tuple or dict by
reading its slots, a failing record kept as msgspec's message (no exception
object), the usual misfit worded in the loop (one reason per distinct message).
Both parsers are strict: NaN, Infinity, numbers that overflow a double, lone
surrogates and invalid UTF-8 are refused, so nothing reaches a sink that it
could not write back as JSON.

A decoder pickles as its settings (runners ship operators to workers) and
builds its msgspec decoder again where it is used.
"""

from __future__ import annotations

import copyreg
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Optional, TypedDict

import msgspec

from etlcore._fast import COMPILED
from etlcore.errors import ConfigError
from etlcore.lineblock import LineBlock

if COMPILED:
    try:
        from etlcore._fast import jsondecode_c as _kernel
    except ImportError as exc:  # a build from before this kernel existed
        raise ImportError(
            f"etlcore's C kernel etlcore._fast.jsondecode_c is not built or does not load "
            f"({exc}). Build it with `pip install -e .` (or `python setup.py build_ext "
            "--inplace`), or set ETLCORE_PURE_PYTHON=1 to run the pure-Python kernels."
        ) from exc
else:
    from etlcore._fast import jsondecode_ref as _kernel  # type: ignore[no-redef]

Output = Literal["dict", "tuple", "struct"]

#: Type names a schema may use as strings (YAML jobs).
TYPE_NAMES: dict[str, Any] = {
    "int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict,
    "any": Any, "bytes": bytes,
}

_DecodeErrors = (ValueError, TypeError, RecursionError)  # msgspec's errors are ValueErrors


class JsonDecodeError(ValueError):
    """Text that is not JSON, or JSON that does not fit the schema; ``reason`` says why."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


_ANY = msgspec.json.Decoder()


def loads(raw: str | bytes | bytearray | memoryview) -> Any:
    """One strict JSON value, untyped; :class:`JsonDecodeError` with the reason otherwise."""
    try:
        return _ANY.decode(raw)
    except _DecodeErrors as err:
        raise JsonDecodeError(_reason(raw, err)) from None


class JsonDecoder:
    """Decodes JSON text into records, untyped or through a schema.

    ``schema``: None (any JSON value; with ``objects_only`` only objects), a
    mapping of field name to type (a Python type, a ``typing`` form such as
    ``list[str]`` or ``Annotated[float, msgspec.Meta(ge=0)]``, or a name from
    :data:`TYPE_NAMES`), or a ``msgspec.Struct`` class. ``required``: fields of a
    mapping schema that must be present and not null; its other fields may be
    absent or null and come out as None (a Struct says itself what is required). ``output``: ``"dict"`` (only the schema's fields), ``"tuple"`` (the
    schema's fields in order) or ``"struct"`` (the Struct instance; the default
    for a Struct schema).
    """

    def __init__(self, schema: Mapping[str, Any] | type | None = None,
                 required: Sequence[str] | None = None, output: Output | None = None,
                 *, objects_only: bool = False, key: str = "parse_json",
                 names: tuple[str, str, str] = ("schema", "required", "output")):
        self.schema = schema
        self.required = ([required] if isinstance(required, str)
                         else list(required) if required is not None else [])
        self.objects_only = objects_only
        self.key = key
        self.names = names  # what the caller calls schema, required, output: for errors
        self.output = output or ("struct" if _is_struct(schema) else "dict")
        self._check()
        self._post: Callable[[Any], Any] | None = None  # struct -> tuple/dict, one record
        self._cls: type | None = None  # the Struct whose slots the batch kernel reads
        self._offsets: tuple[int, ...] | None = None  # where its fields live
        self._keys: tuple[str, ...] | None = None  # field names, for dict output
        self._one: Callable[[Any], Any] = self._build()

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (self.schema, self.required, self.output, self.objects_only, self.key,
                          self.names)

    def __repr__(self) -> str:
        return (f"JsonDecoder(schema={self.schema!r}, required={self.required!r}, "
                f"output={self.output!r})")

    # -- config -----------------------------------------------------------------

    def _check(self) -> None:
        schema, key = self.schema, self.key
        if self.output not in ("dict", "tuple", "struct"):
            raise ConfigError(f"{key}.{self.names[2]}", "'dict', 'tuple' or 'struct'", self.output)
        if not all(isinstance(f, str) for f in self.required):
            raise ConfigError(f"{key}.{self.names[1]}", "a list of field names", self.required)
        if schema is None:
            if self.required:
                raise ConfigError(f"{key}.{self.names[1]}", "a schema that names these fields "
                                  "(required needs schema)", self.required)
            if self.output != "dict":
                raise ConfigError(f"{key}.{self.names[2]}", "'dict' when no schema is given", self.output)
            return
        if _is_struct(schema):
            fields = set(schema.__struct_fields__)
            if self.required:
                raise ConfigError(f"{key}.{self.names[1]}", "nothing for a msgspec.Struct "
                                  "schema (its fields without a default are required)",
                                  self.required)
        elif isinstance(schema, Mapping) and schema and all(isinstance(f, str) for f in schema):
            fields = set(schema)
            if self.output == "struct":
                raise ConfigError(f"{key}.{self.names[2]}", "'dict' or 'tuple' for a mapping schema "
                                  "('struct' needs a msgspec.Struct schema)", self.output)
        else:
            raise ConfigError(f"{key}.{self.names[0]}", "a non-empty mapping of field name to type, "
                              "or a msgspec.Struct class", schema)
        unknown = [f for f in self.required if f not in fields]
        if unknown:
            raise ConfigError(f"{key}.{self.names[1]}", f"fields of the schema ({', '.join(sorted(fields))})",
                              unknown)

    def _types(self) -> list[tuple[str, Any, bool]]:
        """``(field, type, required)`` of a mapping schema, type names resolved."""
        out = []
        assert isinstance(self.schema, Mapping)
        for name, tp in self.schema.items():
            if isinstance(tp, str):
                if tp not in TYPE_NAMES:
                    raise ConfigError(f"{self.key}.{self.names[0]}.{name}",
                                      "a type or one of " + ", ".join(TYPE_NAMES), tp)
                tp = TYPE_NAMES[tp]
            out.append((name, tp, name in self.required))
        return out

    def _build(self) -> Callable[[Any], Any]:
        """The C function that turns one text into one record (raising on a misfit)."""
        schema = self.schema
        if schema is None:
            return _ANY.decode
        if _is_struct(schema):
            struct = schema
        else:
            fields = self._types()
            if self.output == "dict" and all(req for _, _, req in fields):
                td = TypedDict("Record", {n: tp for n, tp, _ in fields})  # type: ignore[misc]
                return self._decoder(td).decode
            try:
                # gc=False: this struct lives only until it becomes a tuple or dict, so it
                # cannot be part of a cycle; untracked, it is cheaper to make and free.
                struct = msgspec.defstruct("Record", [
                    (n, tp) if req else (n, Optional[tp], None)  # noqa: UP045 - any tp
                    for n, tp, req in fields], gc=False)
            except TypeError as err:
                raise ConfigError(f"{self.key}.{self.names[0]}", "types msgspec can decode",
                                  str(err)) from None
        if self.output == "tuple":
            self._post = msgspec.structs.astuple
        elif self.output == "dict":
            self._post = msgspec.structs.asdict
        if self._post is not None:
            names = tuple(struct.__struct_fields__)
            self._cls, self._offsets = struct, _kernel.slot_offsets(struct, names)
            self._keys = names if self.output == "dict" else None
        return self._decoder(struct).decode

    def _decoder(self, tp: Any) -> msgspec.json.Decoder:
        try:
            return msgspec.json.Decoder(tp)
        except TypeError as err:
            raise ConfigError(f"{self.key}.{self.names[0]}", "types msgspec can decode", str(err)) from None

    # -- decoding ----------------------------------------------------------------

    def decode(self, raw: Any) -> Any:
        """One record; :class:`JsonDecodeError` with the reason when it does not fit."""
        try:
            value = self._one(raw)
        except _DecodeErrors as err:
            value = self._slow(raw, err)
        if self.objects_only and self.schema is None and type(value) is not dict:
            raise JsonDecodeError(_not_object(value))
        return value if self._post is None else self._post(value)

    __call__ = decode

    def decode_many(self, raws: Iterable[Any]) -> tuple[list[Any], list[tuple[int, str]]]:
        """Every text decoded in order, and ``(index, reason)`` of those that failed.

        One call of the batch kernel (``etlcore._fast.jsondecode``): a C loop
        that decodes each text, projects a Struct to a tuple or dict by reading
        its slots while it is hot, and notes a failing text's index and reason
        with no exception object and no Python frame (see :meth:`decode_split`).
        """
        out, at, reasons = self.decode_split(raws)
        return out, list(zip(at, reasons, strict=True))

    def decode_split(self, raws: Iterable[Any]) -> tuple[list[Any], list[int], list[str]]:
        """``(records, at, reasons)``: :meth:`decode_many` with the failures as two lists.

        A bulk caller hands ``reasons`` on as they are (``TaskContext.dead_letter_many``)
        and takes the refused texts with ``map(texts.__getitem__, at)``, so a batch's
        thousands of misfits cost no Python step each: the kernel words the usual
        misfit (the schema's ValidationError) itself, one reason str per distinct
        message, and only other failures (text that is not JSON) are worded here.
        """
        texts = raws if isinstance(raws, list) else list(raws)
        typed = self.schema is not None
        out, at, reasons, rest = _kernel.decode_texts(
            self._one, self._post, self._cls, self._offsets, self._keys, texts, self._slow,
            _DecodeErrors, msgspec.ValidationError if typed else None, _MISFIT)
        self._word(rest, reasons, lambda j: texts[at[j]], typed)
        if self.schema is None and self.objects_only and out:
            out, failed = self._objects(texts, out, list(zip(at, reasons, strict=True)))
            at, reasons = [i for i, _ in failed], [r for _, r in failed]
        return out, at, reasons

    def decode_lines(self, block: LineBlock) -> tuple[list[Any], list[Any], list[str]]:
        """``(records, refused, reasons)``: the lines of ``block`` decoded in order, and the
        lines that failed, as the block's records (``bytes``, or ``str`` for a text block),
        with their reasons (:meth:`decode_split`'s).

        With a schema, each line reaches msgspec as a view of the block's buffer (one
        kernel call, no object per line; :mod:`etlcore.lineblock`). Without one, the lines
        are split out first: only JSON objects pass, which is checked on the decoded list
        (:meth:`_objects`).
        """
        out, at, refused, reasons = self.decode_lines_at(block)
        return out, refused, reasons

    def decode_lines_at(self, block: LineBlock,
                        ) -> tuple[list[Any], list[int], list[Any], list[str]]:
        """``(records, at, refused, reasons)``: :meth:`decode_lines` with the line number
        (from 0) of each refused line, for an origin that names where it lies."""
        if self.schema is None or block.stop == block.start:  # an empty block: no line
            lines = block.lines()
            out, at, reasons = self.decode_split(lines)
            return out, at, list(map(lines.__getitem__, at)), reasons
        out, at, reasons, rest, raws = _kernel.decode_lines(
            self._one, self._post, self._cls, self._offsets, self._keys, block.data,
            block.start, block.last, _DecodeErrors, msgspec.ValidationError, _MISFIT)
        block.counted(len(out) + len(at))  # every line is a record or a refusal
        self._word(rest, reasons, raws.__getitem__, True)
        return out, at, raws if not block.text else list(map(block.record, raws)), reasons

    def _word(self, rest: list[tuple[int, type]], reasons: list[Any],
              raw: Callable[[int], Any], typed: bool) -> None:
        """Word the failures the kernel left as msgspec's message or error (``rest``):
        text that is not JSON (1% of W3), with the text around the bad byte."""
        for j, kind in rest:
            value, text = reasons[j], raw(j)
            reasons[j] = (f"invalid JSON: {value}{_where(text, value)}"
                          if kind is msgspec.DecodeError and type(value) is str
                          else _reason(text, _exception(kind, value), typed))

    def _slow(self, raw: Any, err: BaseException) -> Any:
        """What the C path refused: a dict decoded already (a ``format: dict`` source) is
        passed on, or checked against the schema; anything else raises with the reason."""
        if not isinstance(raw, dict):
            raise JsonDecodeError(_reason(raw, err, self.schema is not None)) from None
        if self.schema is None:
            return raw
        try:
            return self._one(msgspec.json.encode(raw))
        except _DecodeErrors as again:
            raise JsonDecodeError(_reason(raw, again, True)) from None

    def _objects(self, texts: list[Any], out: list[Any],
                 failed: list[tuple[int, str]]) -> tuple[list[Any], list[tuple[int, str]]]:
        """Only JSON objects: checked in C (``map(type, ...)``), searched in Python if not."""
        if set(map(type, out)) == {dict}:
            return out, failed
        bad = {i for i, _ in failed}
        kept: list[Any] = []
        j = 0
        for i in range(len(texts)):
            if i in bad:
                continue
            value = out[j]
            j += 1
            if isinstance(value, dict):
                kept.append(value)
            else:
                failed.append((i, _not_object(value)))
        failed.sort()
        return kept, failed


_MISFIT = "does not fit the schema: "  # a ValidationError's reason: this and msgspec's message


def _exception(kind: type[BaseException], value: Any) -> BaseException:
    """The exception a C call left as its class and value (message, args or instance)."""
    if isinstance(value, BaseException):
        return value
    if value is None:
        return kind()
    return kind(*value) if isinstance(value, tuple) else kind(value)


def _reason(raw: Any, err: BaseException, typed: bool = False) -> str:
    """The dead letter's reason: the decoder's own words, prefixed by what kind of misfit."""
    if typed and type(err) is msgspec.ValidationError:  # the common misfit, first
        return f"{_MISFIT}{err}"
    if not isinstance(raw, (str, bytes, bytearray, memoryview, dict)):
        return f"expected JSON text, got {type(raw).__name__}"
    if isinstance(err, RecursionError):
        return "invalid JSON: nested too deeply"
    if typed and isinstance(err, msgspec.ValidationError):
        return f"{_MISFIT}{err}"
    return f"invalid JSON: {err}{_where(raw, str(err))}"


_AT_BYTE = re.compile(r"\(byte (\d+)\)$")


def _where(raw: Any, message: str) -> str:
    """The text around msgspec's ``(byte N)``, so that ``NaN`` or a stray quote shows."""
    m = _AT_BYTE.search(message)
    if m is None or isinstance(raw, dict):
        return ""
    data = raw.encode("utf-8", "replace") if isinstance(raw, str) else bytes(raw)
    at = int(m.group(1))
    return f", near {data[max(0, at - 8):at + 8].decode('utf-8', 'replace')!r}"


def _not_object(value: Any) -> str:
    return f"expected a JSON object, got {type(value).__name__}"


def _rebuild(schema: Any, required: list[str], output: Output, objects_only: bool,
             key: str, names: tuple[str, str, str]) -> JsonDecoder:
    return JsonDecoder(schema, required, output, objects_only=objects_only, key=key, names=names)


def _is_struct(schema: Any) -> bool:
    return isinstance(schema, type) and issubclass(schema, msgspec.Struct)


# msgspec.Meta (the constraints of ``Annotated[float, Meta(ge=0)]``) does not pickle;
# schemas travel to workers inside operators, so teach pickle to rebuild it.
_META_FIELDS = ("gt", "ge", "lt", "le", "multiple_of", "pattern", "min_length", "max_length",
                "tz", "title", "description", "examples", "extra_json_schema", "extra")


def _meta(kwargs: dict[str, Any]) -> msgspec.Meta:
    return msgspec.Meta(**kwargs)


def _reduce_meta(meta: msgspec.Meta) -> tuple[Any, ...]:
    return _meta, ({f: getattr(meta, f) for f in _META_FIELDS if getattr(meta, f) is not None},)


copyreg.pickle(msgspec.Meta, _reduce_meta)

__all__ = ["TYPE_NAMES", "JsonDecodeError", "JsonDecoder", "loads"]

# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Compiled batch loop of :meth:`etlcore.jsondecode.JsonDecoder.decode_many`.

The interface and results of ``jsondecode_ref``, in C. Three costs of the
Python loop go away:

* a failing text costs no Python frame, no restarted ``map`` and no exception
  object: msgspec raises with its message as a str (the exception is made only
  when someone asks for it); the usual misfit (``fits``, the schema's
  ValidationError) is worded here, one reason str per distinct message, and
  only the others are left to Python with their error's type;
* a decoded Struct becomes a tuple (or a dict) by reading its slots at their
  offsets, with no call per record (``msgspec.structs.astuple`` was a C call and
  ~90 ns a record, as much as the plain loop's three attribute loads);
* records that hold only ints, floats, strs, bytes, bools and None are left
  untracked by the cyclic GC, as its first collection would leave them, so a
  batch's young records are not scanned again and again while it grows.
"""

from cpython.object cimport PyObject, PyTypeObject
from cpython.buffer cimport PyBuffer_FillInfo
from cpython.ref cimport Py_INCREF
from libc.string cimport memchr, memcpy
from libc.stdint cimport uint64_t

__all__ = ["decode_lines", "decode_texts", "slot_offsets", "unsure_texts"]

cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char* name
        int type
        Py_ssize_t offset
        int flags
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member
    int T_OBJECT_EX
    PyObject* PyObject_CallOneArg(PyObject* func, PyObject* arg)
    void PyErr_Fetch(PyObject** kind, PyObject** value, PyObject** tb)
    void PyErr_Restore(PyObject* kind, PyObject* value, PyObject* tb)
    void PyErr_NormalizeException(PyObject** kind, PyObject** value, PyObject** tb)
    int PyErr_GivenExceptionMatches(PyObject* given, PyObject* exc)
    PyObject* PyTuple_New(Py_ssize_t n)
    void PyTuple_SET_ITEM(PyObject* t, Py_ssize_t i, PyObject* o)
    PyObject* PyDict_New()
    int PyDict_SetItem(PyObject* d, PyObject* k, PyObject* v)
    int PyList_Append(PyObject* lst, PyObject* item)
    Py_ssize_t PyList_GET_SIZE(object lst)
    PyObject* PyList_GET_ITEM(object lst, Py_ssize_t i)
    void Py_DECREF(PyObject* o)
    void Py_XDECREF(PyObject* o)
    PyTypeObject* Py_TYPE(PyObject* o)
    void PyObject_GC_UnTrack(void* o)
    int PyObject_GC_IsTracked(PyObject* o)
    PyTypeObject PyUnicode_Type
    PyTypeObject PyBytes_Type
    PyTypeObject PyLong_Type
    PyTypeObject PyFloat_Type
    PyTypeObject PyBool_Type
    PyObject* Py_None
    Py_ssize_t Py_REFCNT(PyObject* o)
    PyObject* PyBytes_FromStringAndSize(const char* v, Py_ssize_t n)
    char* PyBytes_AS_STRING(PyObject* o)
    Py_ssize_t PyBytes_GET_SIZE(PyObject* o)

DEF MAX_FIELDS = 64


cdef int _propagate() except -1:
    """Hand on the exception that is set (raised by a C call made without Cython's checks)."""
    return -1


def slot_offsets(cls, tuple names):
    """Where each field of a msgspec Struct lives in an instance, or None.

    A Struct's fields are ``__slots__``: member descriptors of object slots at a
    fixed offset. None when a field is anything else (a property, a descriptor
    of another kind) or there are too many fields, and the caller projects with
    msgspec's own functions instead.
    """
    if len(names) > MAX_FIELDS:
        return None
    out = []
    for name in names:
        d = getattr(cls, name, None)
        if type(d).__name__ != "member_descriptor":
            return None
        member = (<PyMemberDescrObject*><PyObject*>d).d_member
        if member.type != T_OBJECT_EX:
            return None
        out.append(member.offset)
    return tuple(out)


cdef inline bint _atomic(PyObject* v) noexcept:
    cdef PyTypeObject* t = Py_TYPE(v)
    return (v == Py_None or t == &PyUnicode_Type or t == &PyLong_Type or t == &PyFloat_Type
            or t == &PyBytes_Type or t == &PyBool_Type)


cdef PyObject* _project(PyObject* r, Py_ssize_t nf, Py_ssize_t* off, PyObject** keyp) except? NULL:
    """A new tuple (or dict, with ``keyp``) of the ``nf`` slots of ``r`` at ``off``; NULL with
    no error set when a slot is unset (never after a decode: the caller projects the careful
    way). A record of atomic values only is left untracked by the cycle collector."""
    cdef PyObject* rec
    cdef PyObject* v
    cdef Py_ssize_t k
    cdef bint atomic = True
    rec = PyDict_New() if keyp != NULL else PyTuple_New(nf)
    if rec == NULL:
        raise MemoryError()
    for k in range(nf):
        v = (<PyObject**>((<char*>r) + off[k]))[0]
        if v == NULL:
            Py_DECREF(rec)
            return NULL
        if atomic and not _atomic(v):
            atomic = False
        if keyp != NULL:
            if PyDict_SetItem(rec, keyp[k], v) < 0:
                Py_DECREF(rec)
                raise MemoryError()
        else:
            Py_INCREF(<object>v)
            PyTuple_SET_ITEM(rec, k, v)
    if atomic and PyObject_GC_IsTracked(rec):
        PyObject_GC_UnTrack(rec)
    return rec


cdef struct _Shape:
    # what a decoded Struct becomes: projected slots (a tuple, or a dict with keyp), or
    # post(value), or the value itself
    Py_ssize_t nf
    Py_ssize_t off[MAX_FIELDS]
    PyObject* keyp[MAX_FIELDS]
    bint project
    bint as_dict
    PyObject* cls
    PyObject* post


cdef int _shape(_Shape* s, cls, post, offsets, keys) except -1:
    """Fill ``s`` from the decoders' arguments (borrowed: the caller holds them)."""
    cdef Py_ssize_t k
    s.cls = <PyObject*>cls
    s.post = <PyObject*>post if post is not None else NULL
    s.project = offsets is not None
    s.as_dict = keys is not None
    s.nf = 0
    if s.project:
        s.nf = len(offsets)
        if s.nf > MAX_FIELDS or (s.as_dict and len(keys) != s.nf):
            raise ValueError("offsets and keys must match, at most 64 fields")
        for k in range(s.nf):
            s.off[k] = offsets[k]
            if s.as_dict:
                s.keyp[k] = <PyObject*>keys[k]
    return 0


cdef inline int _emit(_Shape* s, PyObject* r, list out) except -1:
    """Append a decoded value to ``out`` as ``s`` says; takes the reference to ``r``."""
    cdef PyObject* rec = NULL
    if s.project and Py_TYPE(r) == <PyTypeObject*>s.cls:
        rec = _project(r, s.nf, s.off, s.keyp if s.as_dict else NULL)
    if rec == NULL and s.post != NULL:
        rec = PyObject_CallOneArg(s.post, r)
        if rec == NULL:
            Py_DECREF(r)
            return _propagate()  # post failing on a decoded value is a bug, not a misfit
    if rec != NULL:
        Py_DECREF(r)
        r = rec
    if PyList_Append(<PyObject*>out, r) < 0:
        Py_DECREF(r)
        raise MemoryError()
    Py_DECREF(r)
    return 0


cdef int _fetch_misfit(PyObject** kind, PyObject** value, tuple errs) except -1:
    """Take the exception that is set when it is a misfit (one of ``errs``); raise anything
    else (MemoryError, KeyboardInterrupt) on."""
    cdef PyObject* tb
    PyErr_Fetch(kind, value, &tb)
    Py_XDECREF(tb)
    if kind[0] == NULL or not PyErr_GivenExceptionMatches(kind[0], <PyObject*>errs):
        PyErr_Restore(kind[0], value[0], NULL)
        return _propagate()
    return 0


cdef int _word(PyObject* kind, PyObject* value, PyObject* fit, dict worded, str prefix,
               list reasons, list rest) except -1:
    """Note a misfit's reason: msgspec's message, one str per distinct message, or (another
    error class) the exception, left in ``rest`` for the caller to word. Takes the
    references to ``kind`` and ``value``."""
    if kind == fit and value != NULL and Py_TYPE(value) == &PyUnicode_Type:
        reason = worded.get(<object>value)
        if reason is None:
            reason = worded[<object>value] = prefix + <str>value
        reasons.append(reason)
    else:
        rest.append((len(reasons), <object>kind))
        reasons.append(<object>value if value != NULL else None)
    Py_DECREF(kind)
    Py_XDECREF(value)
    return 0


def decode_texts(decode, post, cls, offsets, keys, list texts, slow, errors, fits=None,
                 str prefix=""):
    """``(records, at, reasons, rest)``: every text decoded and projected, in order.

    ``decode``: the C decoder (one text -> one value, raising on a misfit).
    ``cls``/``offsets``: a decoded ``cls`` instance is projected by reading its
    slots at ``offsets`` (from :func:`slot_offsets`), into a tuple, or into a
    dict when ``keys`` names the fields; with ``offsets`` None, ``post`` (or
    nothing, when None) turns a value into the record. ``errors``: the exception
    classes that mean "this text does not fit" (others propagate). A failing
    text gives its index in ``at`` and its reason in ``reasons``: ``prefix`` +
    msgspec's message when its error is ``fits`` (one str object per distinct
    message); otherwise the message str as msgspec raised it (or the exception),
    and ``(j, error class)`` in ``rest`` says reasons[j] is still to be worded. A
    failing input that is not str or bytes goes to ``slow(raw, exc)``, which
    returns the record or raises :class:`JsonDecodeError`, whose reason is kept.
    """
    cdef Py_ssize_t n = PyList_GET_SIZE(texts), i
    cdef _Shape shape
    cdef list out = [], at = [], reasons = [], rest = []
    cdef dict worded = {}  # msgspec's message -> its reason: one str per distinct message
    cdef PyObject* raw
    cdef PyObject* r
    cdef PyObject* kind
    cdef PyObject* value
    cdef PyObject* tb
    cdef PyObject* f = <PyObject*>decode
    cdef PyObject* fit = <PyObject*>fits if fits is not None else NULL
    cdef tuple errs = tuple(errors)
    _shape(&shape, cls, post, offsets, keys)
    for i in range(n):
        raw = PyList_GET_ITEM(texts, i)
        r = PyObject_CallOneArg(f, raw)
        if r == NULL:
            _fetch_misfit(&kind, &value, errs)
            if Py_TYPE(raw) == &PyUnicode_Type or Py_TYPE(raw) == &PyBytes_Type:
                at.append(i)
                _word(kind, value, fit, worded, prefix, reasons, rest)
                continue
            tb = NULL  # _fetch_misfit dropped the traceback
            PyErr_NormalizeException(&kind, &value, &tb)
            Py_XDECREF(tb)
            exc = <object>value
            Py_DECREF(kind)
            Py_XDECREF(value)
            try:
                got = slow(<object>raw, exc)
            except Exception as why:  # JsonDecodeError: worded already
                reason = getattr(why, "reason", None)
                if reason is None:
                    raise
                at.append(i)
                reasons.append(reason)
                continue
            out.append(got if post is None else post(got))
            continue
        _emit(&shape, r, out)
    return out, at, reasons, rest


cdef class _LineView:
    """One line of a block, as a read-only buffer: what the decoder reads instead of a bytes
    object made for every line. The loop moves it to the next line only while nothing else
    holds it: a ``msgspec.Raw`` field keeps the buffer object it was decoded from (its
    pointer, into the block's immutable bytes, stays valid; a later ``PyObject_GetBuffer``
    on a held view would not), so a held view is left as it is and a new one made."""

    cdef object block  # keeps the bytes alive while a Raw holds this view
    cdef const char* ptr
    cdef Py_ssize_t size

    def __getbuffer__(self, Py_buffer* view, int flags):
        PyBuffer_FillInfo(view, self, <void*>self.ptr, self.size, 1, flags)

    def __releasebuffer__(self, Py_buffer* view):
        pass


def decode_lines(decode, post, cls, offsets, keys, bytes data, Py_ssize_t start,
                 Py_ssize_t stop, errors, fits=None, str prefix=""):
    """``(records, at, reasons, rest, raws)``: :func:`decode_texts` over the lines of
    ``data[start:stop]`` (split at ``\\n``, as ``bytes.split``), with no bytes object per line.

    Each line is handed to ``decode`` as a buffer over ``data``; only a refused line is
    copied out, into ``raws`` (its dead letter's record), beside its index in ``at``.
    """
    cdef Py_ssize_t n = len(data), i = 0, lo, hi
    cdef _Shape shape
    cdef list out = [], at = [], reasons = [], rest = [], raws = []
    cdef dict worded = {}
    cdef const char* base = data
    cdef const char* nl
    cdef PyObject* r
    cdef PyObject* raw
    cdef PyObject* kind
    cdef PyObject* value
    cdef PyObject* f = <PyObject*>decode
    cdef PyObject* fit = <PyObject*>fits if fits is not None else NULL
    cdef tuple errs = tuple(errors)
    cdef _LineView line = _LineView.__new__(_LineView)
    if not 0 <= start <= stop <= n:
        raise ValueError(f"start and stop must lie in the data: 0 <= {start} <= {stop} <= {n}")
    line.block = data
    _shape(&shape, cls, post, offsets, keys)
    lo = start
    while True:
        nl = <const char*>memchr(base + lo, 10, stop - lo)
        hi = (nl - base) if nl != NULL else stop
        if Py_REFCNT(<PyObject*>line) > 1:  # held by what it decoded to: a new view
            line = _LineView.__new__(_LineView)
            line.block = data
        line.ptr = base + lo
        line.size = hi - lo
        r = PyObject_CallOneArg(f, <PyObject*>line)
        if r == NULL:
            _fetch_misfit(&kind, &value, errs)
            at.append(i)
            raw = PyBytes_FromStringAndSize(base + lo, hi - lo)
            if raw == NULL:
                Py_DECREF(kind)
                Py_XDECREF(value)
                raise MemoryError()
            raws.append(<object>raw)
            Py_DECREF(raw)
            _word(kind, value, fit, worded, prefix, reasons, rest)
        else:
            _emit(&shape, r, out)
        i += 1
        if nl == NULL:
            break
        lo = hi + 1
    return out, at, reasons, rest, raws


DEF LONG_DIGITS = 309  # the shortest integer part that can exceed a double's range


cdef inline bint _isdigit(unsigned char c) noexcept:
    return 0x30 <= c <= 0x39


cdef bint _exponent(const unsigned char* p, const unsigned char* end, int e) noexcept:
    """Whether ``e`` follows a digit somewhere in ``[p, end)``."""
    cdef const unsigned char* q = p
    while q < end:
        q = <const unsigned char*> memchr(q, e, end - q)
        if q == NULL:
            return False
        if q > p and _isdigit((q - 1)[0]):
            return True
        q += 1
    return False


cdef bint _unsure(const unsigned char* p, Py_ssize_t n) noexcept:
    """Whether one text may hold invalid UTF-8 or a number beyond a double's range."""
    cdef Py_ssize_t j = 0, run = 0
    cdef uint64_t word, high = 0
    cdef const unsigned char* end = p + n
    while j + 8 <= n:  # a byte outside ASCII, eight at a time
        memcpy(&word, p + j, 8)
        high |= word
        j += 8
    while j < n:
        high |= p[j]
        j += 1
    if high & 0x8080808080808080ULL:
        return True
    if _exponent(p, end, 0x65) or _exponent(p, end, 0x45):  # "e", "E"
        return True
    if n >= LONG_DIGITS:
        for j in range(n):
            if _isdigit(p[j]):
                run += 1
                if run >= LONG_DIGITS:
                    return True
            else:
                run = 0
    return False


def unsure_texts(list texts):
    """Indexes of the texts a pruned decode may accept where the whole one refuses: not
    ``bytes``, a byte outside ASCII (invalid UTF-8 in a skipped string), a digit followed
    by ``e``/``E`` or a run of 309 digits (a number beyond a double's range); word-wide
    and ``memchr`` scans (:mod:`etlcore.jsonproject`)."""
    cdef list out = []
    cdef Py_ssize_t i
    cdef PyObject* t
    for i in range(PyList_GET_SIZE(texts)):
        t = PyList_GET_ITEM(texts, i)
        if Py_TYPE(t) != &PyBytes_Type or _unsure(
                <const unsigned char*> PyBytes_AS_STRING(t), PyBytes_GET_SIZE(t)):
            out.append(i)
    return out

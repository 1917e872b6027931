"""What crosses a worker's pipe, kept cheap: plain values by marshal, the rest by pickle.

Records the driver read go to a worker as one marshal frame after the pickled task;
a task's dead letters come back as marshalled columns (kept packed on the driver:
:mod:`etlcore.letters`), its shuffle blocks and collected records as one marshal
blob when they are plain values. Anything marshal would not give back as itself
goes by pickle, as before.
"""

from __future__ import annotations

import copy
import marshal
from itertools import chain
from typing import Any

from etlcore.engine.task import Task, TaskResult
from etlcore.letters import PackedLetters

MARSHAL_VERSION = 2  # no reference table: see task_message
SCALARS = frozenset({str, int, float, bool, type(None), bytes, complex})
CONTAINERS = frozenset({list, tuple, set, frozenset, dict})
PLAIN = SCALARS | CONTAINERS
MAX_DEPTH = 64


def plain(values: Any) -> bool:
    """Every value inside ``values`` is of an exact type marshal writes as itself.

    marshal also writes any object with the buffer protocol (a bytearray, an
    ``array.array``, a numpy array or scalar) as bytes, silently: such values must
    go by pickle. Checked a nesting level at a time with C-level ``map``/``chain``,
    so a list of strings or of flat tuples costs one or two passes over its items.
    Deeper than ``MAX_DEPTH`` levels (or a container that holds itself) is left to pickle.
    """
    level: list[Any] = [values]
    for _ in range(MAX_DEPTH):
        types = set(map(type, chain.from_iterable(level)))
        if not types <= PLAIN:
            return False
        inner = types & CONTAINERS
        if not inner:
            return True
        if types == inner and dict not in inner:
            level = list(chain.from_iterable(level))  # all containers: the next level
            continue
        level = [x for x in chain.from_iterable(level) if type(x) in CONTAINERS]
        level += [x.values() for x in level if type(x) is dict]
        if not level:
            return True
    return False


def marshal_plain(values: Any) -> bytes | None:
    """``values`` marshalled, or None when they must go by pickle (see :func:`plain`)."""
    if not plain([values]):
        return None
    try:
        return marshal.dumps(values, MARSHAL_VERSION)
    except ValueError:  # nested too deep, or a cycle
        return None


def pack_result(result: TaskResult) -> bytes | None:
    """On the worker: the result's dead letters packed in place, its values as a marshal blob
    taken out of it (None when they stay in the pickled result)."""
    letters = result.dead_letters
    if letters and type(letters) is list:
        packed = PackedLetters.pack(letters, marshal_plain)
        if packed is not None:  # a record marshal refuses leaves the letters to pickle
            result.dead_letters = packed
    return _values_blob(result)


def unpack_result(result: TaskResult, values: bytes | None) -> TaskResult:
    """:func:`pack_result` undone on the driver, but for the dead letters: they stay packed
    until something reads them one by one (:mod:`etlcore.letters`)."""
    if values is not None:
        result.shuffle, result.collected = marshal.loads(values)
    return result


def _values_blob(result: TaskResult) -> bytes | None:
    """A task's shuffle blocks and collected records, marshalled when they are plain values.

    W1's map side returns ~9,000 (word, count) pairs a task: marshal writes them in
    about half pickle's time. Partials or rows of another type (window rows are a
    tuple subclass) make marshal refuse, and they stay with the pickled result.
    """
    if not result.shuffle and not result.collected:
        return None
    blob = marshal_plain((result.shuffle, result.collected))
    if blob is not None:
        result.shuffle, result.collected = {}, {}
    return blob


def task_message(uid: str, task: Task) -> tuple[tuple[str, str, Any], bytes | None]:
    """A task as sent: records the driver read go as one ``marshal`` blob when they can.

    The blob is a frame of its own after the pickled message (``(task, True)``):
    pickling it inside the message copied 2.7 MB per W3 task into a new buffer
    (0.9 ms of the driver's time) and unpickling copied it out again on the worker.

    marshal writes a list of plain values (str, bytes, int, float, tuple, list,
    dict, None, bool) 4-10x faster than pickle, which memoizes every object, and
    that writing is the driver's, once per task of every batch. It refuses
    anything else, subclasses included; such records go by pickle as before.
    Version 2 keeps no table of objects seen: version 4 enters every record in
    one (a sliced record is referenced twice), which cost W3's 25,000-line slices
    2.1 ms against 1.2-1.7 ms. An object a batch holds twice arrives as two equal
    copies; a record that contains itself is too deep for marshal and goes by pickle.
    """
    records = task.records
    if type(records) is list and records:
        blob = marshal_plain(records)
        if blob is not None:
            light = copy.copy(task)
            light.records = None
            return ("run", uid, (light, True)), blob
    return ("run", uid, (task, False)), None

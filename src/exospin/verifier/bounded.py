"""Bounded builtins: what one builtin call or one operator may do in C for verified code.

What this models
    The budget (verifier.py) counts Python-level steps: a loop iteration, a call
    of a function that calls. A single step can still do unbounded work in C:
    ``hash`` of a tuple nested 10**5 deep recurses in C with no guard and kills
    the process (SIGSEGV); ``"x" * 10**12``, ``1 << 10**12``, ``10 ** 10**9``,
    ``list(range(10**12))``, ``"".join([s] * 10**6)``, ``s.ljust(10**12)`` or
    ``l.extend(zip(l))`` (an iterator over the list it extends, endless in C)
    each hang or exhaust memory in one step. This module makes every such step
    bounded, in three ways:

    - *shims*: the allow-listed builtins that loop or allocate in C
      (``tuple list dict set frozenset str bytes range sorted sum max min all
      any hash round zip enumerate``) are replaced, in the extension's
      namespace, by kernel functions that measure their input (its length; for
      the ones that walk a value, its unfolded size), charge the budget one
      tick per ``TICK_ELEMENTS`` elements, and refuse input beyond the limits
      below with ``LimitExceeded`` (a ``ValueError``: the extension may catch
      it). The type-like ones (``tuple``, ``list``...) stay usable in
      ``isinstance``, as bases and in class patterns;
    - *checked operators and methods*: after the budget is inserted, the AST is
      rewritten so that ``+ * ** << % //`` on operands that are not both constants,
      comparisons and membership of two non-constant operands (bounded by walking
      one of them: CPython's work is at most either operand's unfolded size, so a
      list or dict DAG cannot make ``==`` exponential), slices (charged by size),
      their augmented forms, starred arguments and displays (``*x``), slice
      assignment, ``raise``, f-string fields, ``.args``, and calls of the
      methods in ``CHECKED_METHODS`` (``join``, ``ljust``, ``extend``,
      ``items``...) go through a kernel function first. Each has a fast path
      for small numbers (``i + 1`` with ints costs one type test and a call);
    - *ints*: ``int()`` (the shim) refuses more than ``MAX_INT_BITS`` bits, and
      ``//``, ``%``, ``divmod`` and ``round`` of two ints over 64 bits refuse a
      product of bit lengths over ``MAX_INT_BITS**2`` (CPython divides in
      quadratic time); a huge int by a small one is linear and allowed;
    - *a tuple invariant*: every tuple verified code can obtain has tuple
      nesting at most ``MAX_DEPTH`` and an unfolded weight (elements summed over
      its tuple tree, strings and bytes by their length) at most
      ``MAX_WEIGHT``. Only tuples matter: CPython's unguarded C recursion is
      ``hash`` through tuples (``repr``, ``==``, ``<`` and ``isinstance``
      recurse under the interpreter's recursion check and raise
      ``RecursionError``, an ordinary exception), and ``hash`` of any other
      value an extension can make is flat (lists, dicts and sets are
      unhashable; frozensets hash their elements' cached hashes; objects hash
      by identity, since special methods cannot be defined). The invariant is
      checked where tuples are made: displays, the ``tuple`` shim (and tuple
      subclasses, whose calls pass through it), ``zip``, ``enumerate``,
      ``dict.items``/``popitem``, ``+``, ``*``, ``sum``, ``*args`` packing and
      exceptions' ``.args``. Hence ``hash``, ``==`` and every dict or set
      lookup with a tuple key, in the extension or in the kernel (the
      dispatcher's ``Eq`` index), do bounded work.

    Two static rules close the C-level loops the shims cannot see: a method
    that grows a container (``MUTATORS``: ``append``, ``extend``...) may only be
    called where it is named (``x.append(v)``), never taken as a value
    (``map(l.append, l)`` would append in C for ever; a checked method taken
    as a value is bound to its check instead), and a format spec may not have
    a computed or a huge width (E120, E121).

Per-domain memory quota
    ``Meter`` counts what the shims and checked operators produce (and, for
    ``range``, what a loop over it may keep: 8 bytes an element); every
    ``QUOTA_STEP`` bytes so counted it measures what the extension *keeps*
    (its module globals, the attributes of its classes and objects, function
    defaults and closures, and what those containers hold; each object once,
    by ``sys.getsizeof``), stopping as soon as it passes the quota; beyond
    ``quota`` bytes it raises ``QuotaExceeded`` (given by the verifier: a
    ``BudgetExceeded``, which the extension cannot catch), so the kernel
    terminates and unloads the domain as for an overrun. ``Meter.measure()``
    is public: the kernel also measures at the end of an activation every
    ``SETTLE_EVERY`` ticks and activations (``Budget.settle``, verifier.py), so
    memory grown where nothing here counts it is measured too.

Why it is built this way
    Python has no hook on allocation and no way to interrupt a C loop, so the
    bound must hold before each C operation starts. Shimming at the namespace
    and rewriting only the operators that can grow keeps the common code at
    its speed (a loop-free, call-free handler is still a plain call; ``x == y``
    and ``d[k]`` are untouched). The limits are far above what a kernel
    extension handles (a page is 4-8 KiB) and far below what hurts the host.

Interface
    ``LimitExceeded``; the limits; ``Meter(budget_cell, budget_exc, quota,
    quota_exc)`` and ``Meter.namespace(module_name)`` (the shims and checked
    operators to put in the extension's namespace); ``rewrite(tree)`` (the AST
    rewrite, applied after the budget's ticks are inserted);
    ``static_violations(tree)`` ((line, col, code, message) for E120-E123);
    ``BOUNDED`` and ``SHIMMED`` (the allow-list's two halves, for the docs).
"""

from __future__ import annotations

import ast
import builtins
import functools
import itertools
import math
import string
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

#: Elements (or characters, or bytes) of a sequence, set or dict a shim or checked
#: operator produces or consumes; the length of a range.
MAX_LEN = 1 << 20
#: Bits of an int made by ``*``, ``**`` or ``<<`` (2466 decimal digits: ``str`` of it works).
MAX_INT_BITS = 1 << 13
#: Nesting of tuples inside tuples.
MAX_DEPTH = 100
#: A tuple's unfolded weight: its elements, summed over its tuple tree as ``hash`` and
#: ``repr`` visit it (shared sub-tuples counted each time), a str or bytes by its length.
MAX_WEIGHT = 1 << 22
#: Nodes and characters a value-walking shim (``str``, ``sorted``, ``max``, ``min``,
#: formatting) may find in its input, unfolded (a list holding one list twice counts it twice).
MAX_WALK = 1 << 20
#: Elements processed per budget tick charged by a shim (a power of two).
TICK_ELEMENTS = 64
_TICK_SHIFT = TICK_ELEMENTS.bit_length() - 1
#: Bytes a domain may keep, by default.
DEFAULT_QUOTA = 64 << 20
#: Bytes counted at the shims between two measurements of what a domain keeps.
QUOTA_STEP = 1 << 20
#: ``round(x, n)`` for an int ``x`` computes ``10 ** -n``: ``n`` is bounded below.
MIN_ROUND_DIGITS = -1000

#: Methods that grow the container they are called on: never taken as a value (E120).
MUTATORS = frozenset({"append", "extend", "insert", "add", "update", "setdefault",
                      "symmetric_difference_update"})
#: Methods that copy their receiver (str and bytes: case, strip, encode, split...; sets:
#: union...): checked after the call, charged by the receiver's length, so what they make
#: counts towards the quota's next measurement.
COPYING_METHODS = frozenset({"upper", "lower", "casefold", "swapcase", "title", "capitalize", "strip",
                             "lstrip", "rstrip", "encode", "decode", "hex", "split", "rsplit",
                             "splitlines", "partition", "rpartition", "removeprefix", "removesuffix",
                             "union", "intersection", "difference", "symmetric_difference", "fromhex"})
#: Methods whose calls go through a check (for str, bytes, lists and dicts; other
#: receivers are called as they are); taken as a value, the check is bound to them.
CHECKED_METHODS = frozenset({"join", "ljust", "rjust", "center", "zfill", "expandtabs", "replace",
                             "translate", "extend", "to_bytes", "items", "popitem",
                             "sort", "index", "count", "remove", "copy"}) | COPYING_METHODS
#: A slice whose bounds are constants giving at most this many elements is left as it is.
SMALL_SLICE = 64

#: Allow-listed builtins that are bounded as they are (O(1), or linear in an input
#: that is itself bounded) and their reason; and the shimmed ones with their limit.
BOUNDED: dict[str, str] = {
    "abs": "O(1) on numbers (ints are at most MAX_INT_BITS from * ** <<)",
    "bool": "O(1), or len() of a container",
    "chr": "O(1)", "ord": "O(1)", "float": "linear in a bounded str",
    "isinstance": "recursion over a tuple of types is guarded by CPython (RecursionError)",
    "len": "O(1)", "filter": "lazy; each step bounded by its source, a bounded range or container",
    "map": "lazy: one call per element", "reversed": "lazy",
}
SHIMMED: dict[str, str] = {
    "tuple": "input materialised, at most MAX_LEN elements; result within the tuple invariant",
    "list": "at most MAX_LEN elements", "set": "at most MAX_LEN elements",
    "frozenset": "at most MAX_LEN elements", "dict": "at most MAX_LEN items",
    "bytes": "bytes(n): n <= MAX_LEN; from an iterable: at most MAX_LEN",
    "str": "a container is walked first: at most MAX_WALK nodes and characters",
    "range": "at most MAX_LEN elements (the source of every lazy iterator)",
    "sorted": "at most MAX_LEN elements, walked: MAX_WALK", "max": "as sorted", "min": "as sorted",
    "sum": "at most MAX_LEN elements; a sum of sequences at most MAX_LEN long",
    "all": "at most MAX_LEN elements (short-circuits per TICK_ELEMENTS)", "any": "as all",
    "hash": "the tuple invariant is checked (MAX_DEPTH, MAX_WEIGHT)",
    "round": f"round(int, n): n >= {MIN_ROUND_DIGITS}, and the int within the division limit",
    "int": "int(str or bytes, base) of at most MAX_INT_BITS bits; an int result within MAX_INT_BITS",
    "divmod": "ints: (bits of a) * (bits of b) at most MAX_INT_BITS**2; charged by size",
    "zip": "each tuple it yields within the tuple invariant",
    "enumerate": "each pair within the tuple invariant",
}


class LimitExceeded(ValueError):
    """An input beyond a documented limit of a builtin or operator (bounded.py). Extensions
    may catch it as ``ValueError``."""


_real_tuple = builtins.tuple
_real_list = builtins.list
_real_range = builtins.range
_STR_LIKE: Any = (str, bytes, bytearray)
#: types whose len() is what a C loop over them does
_SIZED: Any = (list, _real_tuple, dict, set, frozenset, str, bytes, _real_range,
          type({}.keys()), type({}.values()), type({}.items()))
_SMALL = 1 << 31
_NUM: Any = frozenset({int, float, bool})


# ------------------------------------------------------------ measuring values


def tuple_weight(t: tuple[Any, ...], limit_depth: int = MAX_DEPTH,
                 limit_weight: int = MAX_WEIGHT) -> int:
    """The unfolded weight of ``t`` (module note), or raise LimitExceeded. Linear in the
    distinct tuples under ``t`` (shared ones are weighed once and counted each time)."""
    memo: dict[int, int] = {}

    def weigh(u: tuple[Any, ...], depth: int) -> int:
        if depth > limit_depth:
            raise LimitExceeded(f"tuple nested more than {limit_depth} deep")
        w = len(u)
        for e in u:
            if isinstance(e, _real_tuple):
                k = id(e)
                sub = memo.get(k)
                if sub is None:
                    sub = memo[k] = weigh(e, depth + 1)
                w += sub
            elif isinstance(e, _STR_LIKE):
                w += len(e)
        if w > limit_weight:
            raise LimitExceeded(f"tuple of unfolded weight above {limit_weight} "
                                "(elements and characters over its nested tuples)")
        return w

    return weigh(t, 1)


def check_tuple(t: Any) -> Any:
    """``t``, after checking it is within the tuple invariant if it is a tuple."""
    if isinstance(t, _real_tuple):
        for e in t:
            if isinstance(e, (_real_tuple, str, bytes)):
                tuple_weight(t)
                break
        else:
            if len(t) > MAX_WEIGHT:
                raise LimitExceeded(f"tuple of more than {MAX_WEIGHT} elements")
    return t


def walk_size(x: Any, limit: int = MAX_WALK) -> int:
    """Nodes and characters of ``x`` unfolded, as repr, == and sorting visit it (a list
    holding one list twice counts it twice); raise LimitExceeded beyond ``limit``. Each
    distinct container is visited once (its unfolded size is remembered), so a DAG of 2**60
    unfolded nodes made of 120 lists is refused after 120 visits; at most ``limit`` visits."""
    if x.__class__ in _NUM or x is None:
        return 1
    if isinstance(x, _STR_LIKE):
        n = 1 + len(x)
        if n > limit:
            raise LimitExceeded(f"value of more than {limit} nodes and characters (unfolded)")
        return n
    if not isinstance(x, _WALKED):
        return 1
    memo: dict[int, int] = {}
    path: set[int] = {id(x)}
    frames: list[list[Any]] = [[x, _kids(x), _base(x)]]
    visits = 0
    while True:
        top = frames[-1]
        for c in top[1]:
            visits += 1
            if c.__class__ in _NUM or c is None:
                top[2] += 1
            elif isinstance(c, _STR_LIKE):
                top[2] += 1 + len(c)
            elif isinstance(c, _WALKED):
                k = id(c)
                m = memo.get(k)
                if m is not None:
                    top[2] += m
                elif k in path:  # a cycle: == and repr on it recurse without end
                    raise LimitExceeded(f"value of more than {limit} nodes and characters "
                                        "(unfolded; it contains itself)")
                else:
                    path.add(k)
                    frames.append([c, _kids(c), _base(c)])
                    break
            else:
                top[2] += 1
            if top[2] > limit or visits > limit:
                raise LimitExceeded(f"value of more than {limit} nodes and characters (unfolded)")
        else:
            frames.pop()
            n = top[2]
            k = id(top[0])
            path.discard(k)
            memo[k] = n
            if n > limit:
                raise LimitExceeded(f"value of more than {limit} nodes and characters (unfolded)")
            if not frames:
                return n
            frames[-1][2] += n


_WALKED: Any = (dict, list, tuple, set, frozenset, BaseException)


def _base(v: Any) -> int:
    """A container's own count: itself and its slots (an exception: itself)."""
    return 1 if isinstance(v, BaseException) else 1 + len(v)


def _kids(v: Any) -> Iterable[Any]:
    if isinstance(v, dict):
        return itertools.chain(v.keys(), v.values())
    if isinstance(v, BaseException):
        return iter(v.args)
    return iter(v)


def _kept_size(roots: Iterable[Any], module: str, limit: int) -> int:
    """Bytes of what ``roots`` hold (each object once), stopping once past ``limit``."""
    seen: set[int] = set()
    stack = list(roots)
    total = 0
    while stack and total <= limit:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if isinstance(v, (types.FunctionType, types.MethodType)):
            fn = v.__func__ if isinstance(v, types.MethodType) else v
            if getattr(fn, "__module__", None) != module:
                continue
            stack.extend(fn.__defaults__ or ())
            stack.extend((fn.__kwdefaults__ or {}).values())
            stack.extend(c.cell_contents for c in fn.__closure__ or () if _filled(c))
            continue
        if isinstance(v, type):
            if v.__module__ == module:
                stack.extend(val for k, val in vars(v).items() if not k.startswith("__"))
            continue
        total += sys.getsizeof(v)
        if isinstance(v, dict):
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, (list, _real_tuple, set, frozenset)):
            stack.extend(v)
        elif type(v).__module__ == module:
            d = getattr(v, "__dict__", None)
            if d is not None:
                total += sys.getsizeof(d)
                stack.extend(d.values())
    return total


def _filled(c: types.CellType) -> bool:
    try:
        c.cell_contents  # noqa: B018 (an empty cell raises)
    except ValueError:
        return False
    return True


def _length(x: Any) -> int:
    """len(x) for a range of any size (len() raises OverflowError beyond a C ssize_t)."""
    try:
        return len(x)
    except OverflowError:
        return MAX_LEN + 1


def _too_long(what: str, n: int, limit: int = MAX_LEN) -> LimitExceeded:
    return LimitExceeded(f"{what} of {n} elements: the limit is {limit}")


# ------------------------------------------------------------ the shims


class _ShimMeta(type):
    """A shim standing for a builtin type: ``isinstance``/``issubclass`` answer for the real
    type, a call goes through the shim's check, and subclasses are ordinary subclasses of
    the real type whose instances are checked after they are made."""

    _real: type
    _shim: type  # the shim class itself (a subclass inherits it: it is not the shim)
    _make: Callable[..., Any]
    _check_sub: Callable[[Any], Any]

    def __instancecheck__(cls, obj: Any) -> bool:
        if cls._shim is cls:
            return isinstance(obj, cls._real)
        return type.__instancecheck__(cls, obj)

    def __subclasscheck__(cls, sub: type) -> bool:
        if cls._shim is cls:
            return issubclass(sub, cls._real)
        return type.__subclasscheck__(cls, sub)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls._shim is cls:
            return cls._make(*args, **kwargs)
        obj = type.__call__(cls, *args, **kwargs)
        return cls._check_sub(obj)


class _RangeMeta(_ShimMeta):
    """``range``: checked in its own call (a range is made by nearly every loop)."""

    _meter: Meter

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        r = _real_range(*args, **kwargs)
        try:
            n = len(r)
            if n <= MAX_LEN:
                # a loop over it may keep an object per element: that counts towards the
                # next measurement of what the domain keeps (8 bytes an element)
                m = cls._meter
                m.pending += n << 3
                if m.pending >= QUOTA_STEP:
                    m.measure()
                return r
            how = str(n)
        except OverflowError:
            how = "more than 2**63"
        raise LimitExceeded(f"range of {how} elements: the limit is {MAX_LEN}")


def _shim_type(real: type, make: Callable[..., Any], check: Callable[[Any], Any],
               subclassable: bool = True) -> type:
    body = {"_real": real, "_make": staticmethod(make), "_check_sub": staticmethod(check),
            "__doc__": f"{real.__name__}, bounded (verifier/bounded.py)"}
    bases = (real,) if subclassable else ()
    meta = _RangeMeta if real is _real_range else _ShimMeta
    cls = meta(real.__name__, bases, body)
    cls._shim = cls
    return cls


class Meter:
    """One domain's shims and checked operators, charging its budget and its quota."""

    def __init__(self, budget_cell: Any, budget_exc: type[BaseException], quota: int = DEFAULT_QUOTA,
                 quota_exc: type[BaseException] = MemoryError) -> None:
        self.cell = budget_cell
        self.budget_exc = budget_exc
        self.quota = quota
        self.quota_exc = quota_exc
        self.pending = 0
        #: elements charged but not yet a whole tick (fewer than TICK_ELEMENTS)
        self.carry = 0
        #: the largest size measured so far, and how many measurements were made
        self.peak = 0
        self.measurements = 0
        #: a measurement found more than the quota (the domain is to end)
        self.over = False
        self._roots: Callable[[], Iterable[Any]] = lambda: ()
        self._module = ""

    def watch(self, namespace: dict[str, Any], module: str) -> None:
        """Measure ``namespace`` (the extension's module globals) for the quota."""
        self._module = module
        self._roots = lambda: [v for k, v in namespace.items() if not k.startswith("__")]

    def measure(self) -> int:
        """Bytes the domain keeps (module note), stopping past the quota; raises the quota
        exception if past it."""
        self.pending = 0
        self.measurements += 1
        n = _kept_size(self._roots(), self._module, self.quota)
        self.pending = -(n >> 1)  # the next one half of that later (a walk's cost is n)
        self.peak = max(self.peak, n)
        if n > self.quota:
            self.over = True
            raise self.quota_exc(f"memory quota of {self.quota} bytes exceeded "
                                 f"(the domain keeps more than {n} bytes)")
        return n

    def charge(self, n: int) -> None:
        """``n`` elements were (or are about to be) produced in C: a tick per ``TICK_ELEMENTS``
        of them, the remainder carried to the next charge (so a million results of 63 elements
        each are charged as a million times 63 elements, not free); what a result of at least
        ``TICK_ELEMENTS`` holds counts towards the next measurement (smaller ones count through
        their ticks, at the end of the activation: Budget.settle)."""
        if n > 0:  # (a negative size, "x" * -5, charges nothing: it must not give ticks back)
            if n >= TICK_ELEMENTS:
                self.pending += n << 3
            n += self.carry
            t = n >> _TICK_SHIFT
            self.carry = n & (TICK_ELEMENTS - 1)
            if t:
                cell = self.cell
                left = cell.cell_contents - t
                cell.cell_contents = left
                if left < 0:
                    raise self.budget_exc("budget exhausted (by a builtin's work)")
                if self.pending >= QUOTA_STEP:
                    self.measure()

    # -- helpers the shims share

    def bounded(self, it: Any, what: str) -> Any:
        """``it`` if it is a container of at most MAX_LEN elements, else its elements
        materialised (at most MAX_LEN of them); charged by length."""
        if isinstance(it, _SIZED):
            n = _length(it)
            if n > MAX_LEN:
                raise _too_long(what, n)
            self.charge(n)
            return it
        items = _real_list(itertools.islice(it, MAX_LEN + 1))
        if len(items) > MAX_LEN:
            raise LimitExceeded(f"{what}: more than {MAX_LEN} elements")
        self.charge(len(items))
        return items

    def walked(self, x: Any, what: str, limit: int = MAX_WALK) -> int:
        """Walk ``x`` (``walk_size``) and charge its size; a walk that fails past ``limit``
        is charged ``limit`` (the nodes it visited: refusing must not be free)."""
        try:
            n = walk_size(x, limit)
        except LimitExceeded as e:
            self.charge(limit)
            raise LimitExceeded(f"{what}: {e}") from None
        self.charge(n)
        return n

    def compared(self, a: Any, b: Any, what: str) -> None:
        """Bound a comparison of ``a`` and ``b`` (``==``, ``<``...): CPython's work is at most
        the unfolded size of either operand, so one of them must be within MAX_WALK."""
        try:
            n = walk_size(a)
        except LimitExceeded:
            self.charge(MAX_WALK)
            self.walked(b, what)
            return
        self.charge(n)

    def contained(self, x: Any, c: Any, what: str) -> Any:
        """Bound ``x in c`` (and ``index``, ``count``, ``remove``): a list or tuple compares
        ``x`` with each element, at most the unfolded size of ``c``, and at most
        ``len(c)`` times that of ``x``. Returns ``c``, materialised if it was an iterator."""
        if isinstance(c, _HASHED) or c.__class__ is _real_range and x.__class__ is int:
            return c
        if isinstance(c, _STR_LIKE) or c.__class__ is _real_range:
            self.charge(len(c))
            return c
        if not isinstance(c, (list, _real_tuple)):
            c = _real_list(self.bounded(c, what))
        n = len(c)
        if x.__class__ in _FLAT:
            self.charge(n)
            return c
        try:
            wx = walk_size(x)
        except LimitExceeded:
            wx = MAX_WALK + 1
        if wx * n <= MAX_WALK:
            self.charge(wx * n)
        else:
            self.walked(c, what)
        return c

    def namespace(self) -> dict[str, Any]:
        """The shims (under the builtins' names) and the checked operators (under the
        hidden names ``rewrite`` uses)."""
        return _make_namespace(self)


def _make_namespace(m: Meter) -> dict[str, Any]:  # noqa: C901 (one closure per shim)
    charge, bounded, walked = m.charge, m.bounded, m.walked
    compared, contained = m.compared, m.contained
    r_tuple, r_list, r_dict, r_set, r_frozenset = tuple, list, dict, set, frozenset
    r_str, r_bytes, r_range, r_sorted, r_sum = str, bytes, range, sorted, sum
    r_max, r_min, r_all, r_any, r_hash, r_round = max, min, all, any, hash, round
    r_zip, r_enumerate = zip, enumerate
    r_int, r_divmod = int, divmod
    islice = itertools.islice

    def s_tuple(it: Any = ()) -> Any:
        return check_tuple(r_tuple(bounded(it, "tuple()")))

    def s_list(it: Any = ()) -> Any:
        return r_list(bounded(it, "list()"))

    def s_set(it: Any = ()) -> Any:
        return r_set(bounded(it, "set()"))

    def s_frozenset(it: Any = ()) -> Any:
        return r_frozenset(bounded(it, "frozenset()"))

    def s_dict(*args: Any, **kwargs: Any) -> Any:
        if args:
            return r_dict(bounded(args[0], "dict()"), *args[1:], **kwargs)
        return r_dict(**kwargs)

    def s_str(*args: Any, **kwargs: Any) -> Any:
        x = args[0] if args else kwargs.get("object", "")
        if x.__class__ not in _STR_OK:
            walked(x, "str()")
        return r_str(*args, **kwargs)

    def s_bytes(*args: Any, **kwargs: Any) -> Any:
        if args:
            x = args[0]
            if isinstance(x, int):
                if x > MAX_LEN:
                    raise LimitExceeded(f"bytes({x}): the limit is {MAX_LEN}")
                charge(x)
            elif not isinstance(x, _STR_LIKE):
                return r_bytes(bounded(x, "bytes()"), *args[1:], **kwargs)
        return r_bytes(*args, **kwargs)

    def s_range(*args: Any) -> Any:
        r = r_range(*args)
        n = _length(r)
        if n > MAX_LEN:
            raise LimitExceeded(f"range of {'more than 2**63' if n == MAX_LEN + 1 else n} "
                                f"elements: the limit is {MAX_LEN}")
        return r

    def _keys(items: Any, key: Any, what: str) -> Any:
        # the keys compared in C are walked, not the items: computed once each, as
        # CPython does, then the items ordered by them (the same order, stable)
        keys = r_list(map(key, items))
        walked(keys, what)
        return keys

    def s_sorted(it: Any, *, key: Any = None, reverse: bool = False) -> Any:
        items = bounded(it, "sorted()")
        charge(len(items) * max(1, len(items).bit_length()))
        if key is None:
            walked(items, "sorted()")
            return r_sorted(items, reverse=reverse)
        items = r_list(items)
        keys = _keys(items, key, "sorted()")
        return [items[i] for i in r_sorted(r_range(len(items)), key=keys.__getitem__, reverse=reverse)]

    def _extreme(real: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        items = bounded(args[0], f"{name}()") if len(args) == 1 else args
        key = kwargs.get("key")
        if key is None:
            walked(items, f"{name}()")
            return real(items, **kwargs) if len(args) == 1 else real(*items, **kwargs)
        items = r_list(items)
        keys = _keys(items, key, f"{name}()")
        rest = {k: v for k, v in kwargs.items() if k != "key"}
        if not items:
            return real(items, **rest) if len(args) == 1 else real(*items, **rest)
        return items[real(r_range(len(items)), key=keys.__getitem__)]

    def s_max(*args: Any, **kwargs: Any) -> Any:
        return _extreme(r_max, "max", args, kwargs)

    def s_min(*args: Any, **kwargs: Any) -> Any:
        return _extreme(r_min, "min", args, kwargs)

    def s_sum(it: Any, start: Any = 0) -> Any:
        items = bounded(it, "sum()")
        if not isinstance(start, (int, float, complex)):
            n = _length(start) if hasattr(start, "__len__") else 0
            for e in items:
                n += _length(e) if hasattr(e, "__len__") else 0
            if n > MAX_LEN:
                raise LimitExceeded(f"sum() of sequences: {n} elements, the limit is {MAX_LEN}")
            charge(n)
            return check_tuple(r_sum(items, start))
        return r_sum(items, start)

    def _short(real: Any, name: str, it: Any) -> bool:
        if isinstance(it, _SIZED):
            return bool(real(bounded(it, f"{name}()")))
        it = iter(it)
        for _ in r_range(MAX_LEN // TICK_ELEMENTS + 1):
            chunk = r_list(islice(it, TICK_ELEMENTS))
            charge(TICK_ELEMENTS)
            r = real(chunk)
            if r is (real is r_any) or len(chunk) < TICK_ELEMENTS:
                return bool(r)
        raise LimitExceeded(f"{name}(): more than {MAX_LEN} elements")

    def s_all(it: Any) -> bool:
        return _short(r_all, "all", it)

    def s_any(it: Any) -> bool:
        return _short(r_any, "any", it)

    def s_hash(x: Any) -> int:
        check_tuple(x)
        return r_hash(x)

    def s_round(x: Any, ndigits: Any = None) -> Any:
        if ndigits is None:
            return r_round(x)
        if isinstance(x, int) and isinstance(ndigits, int) and ndigits < 0:
            if ndigits < MIN_ROUND_DIGITS:
                raise LimitExceeded(f"round(int, {ndigits}): ndigits below {MIN_ROUND_DIGITS}")
            _int_div(x, 10 ** -ndigits, "round()")
        return r_round(x, ndigits)

    def s_int(*args: Any, **kwargs: Any) -> Any:
        x = args[0] if args else kwargs.get("x", 0)
        if x.__class__ is int and len(args) == 1:
            _int_bits(x.bit_length(), "int()")
            return x
        if isinstance(x, _STR_LIKE):
            base = args[1] if len(args) > 1 else kwargs.get("base", 10)
            per = 4.0 if not isinstance(base, int) or not 2 <= base <= 36 else _LOG2[base]
            if len(x) * per > MAX_INT_BITS + per:
                raise LimitExceeded(f"int() of a {len(x)}-digit string: more than {MAX_INT_BITS} "
                                    "bits, the limit")
            charge(len(x))
        return _checked_int(r_int(*args, **kwargs))

    def _checked_int(v: Any) -> Any:
        if isinstance(v, int) and not -_SMALL < v < _SMALL:
            _int_bits(v.bit_length(), "int()")
        return v

    def s_divmod(a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int):
            _int_div(a, b, "divmod()")
        return r_divmod(a, b)

    def s_zip(*its: Any, strict: bool = False) -> Any:
        for t in r_zip(*its, strict=strict):
            yield check_tuple(t)

    def s_enumerate(it: Any, start: int = 0) -> Any:
        for i, x in r_enumerate(it, start):
            if isinstance(x, (r_tuple, str, bytes)):
                check_tuple((i, x))
            yield i, x

    # -- checked operators (fast path: numbers)

    def b_add(a: Any, b: Any) -> Any:
        if (a.__class__ is int and b.__class__ is int) or (a.__class__ in _NUM and b.__class__ in _NUM):
            return a + b
        if isinstance(a, _CONCAT) and isinstance(b, _CONCAT):
            n = len(a) + len(b)
            if n > MAX_LEN:
                raise LimitExceeded(f"concatenation of {n} elements: the limit is {MAX_LEN}")
            charge(n)
            return check_tuple(a + b)
        return a + b

    def b_iadd(a: Any, b: Any) -> Any:
        if a.__class__ in _NUM and b.__class__ in _NUM:
            a += b
            return a
        if isinstance(a, list) and not isinstance(b, (list, r_tuple)):
            b = bounded(b, "+= of a list")
        if isinstance(a, _CONCAT) and hasattr(b, "__len__"):
            n = len(a) + _length(b)
            if n > MAX_LEN:
                raise LimitExceeded(f"concatenation of {n} elements: the limit is {MAX_LEN}")
            charge(n)
        a += b
        return check_tuple(a)

    def _int_bits(n: int, what: str) -> None:
        if n > MAX_INT_BITS:
            raise LimitExceeded(f"{what}: an int of about {n} bits, the limit is {MAX_INT_BITS}")
        charge(n >> 6)  # a tick per 64 words of 64 bits

    def _int_div(a: int, b: int, what: str) -> None:
        # CPython divides in time (bits of a) x (bits of b): a huge int by a small one is
        # linear, two huge ones quadratic; the product is bounded
        na, nb = a.bit_length(), b.bit_length()
        if na > 64 and nb > 64:
            if na * nb > MAX_INT_BITS * MAX_INT_BITS:
                raise LimitExceeded(f"{what} of ints of {na} and {nb} bits: (bits x bits) above "
                                    f"{MAX_INT_BITS}**2, the limit")
        charge((na + nb) >> 6)

    def b_floordiv(a: Any, b: Any) -> Any:
        if a.__class__ is int and b.__class__ is int and -_SMALL < b < _SMALL:
            return a // b  # (linear in a: a small divisor)
        if isinstance(a, int) and isinstance(b, int):
            _int_div(a, b, "//")
        return a // b

    def _mul(a: Any, b: Any, inplace: bool) -> Any:
        if isinstance(a, int) and isinstance(b, int):
            if not (-_SMALL < a < _SMALL and -_SMALL < b < _SMALL):
                _int_bits(a.bit_length() + b.bit_length(), "*")
            return a * b
        if isinstance(a, float) or isinstance(b, float):
            return a * b
        seq, n = (a, b) if isinstance(b, int) else (b, a)
        if isinstance(seq, _CONCAT) and isinstance(n, int):
            total = len(seq) * n
            if total > MAX_LEN:
                raise LimitExceeded(f"repetition to {total} elements: the limit is {MAX_LEN}")
            charge(total)
            if isinstance(seq, r_tuple) and total:
                tuple_weight(seq, limit_weight=MAX_WEIGHT // max(n, 1))
        if inplace:
            a *= b
            return a
        return a * b

    def b_mul(a: Any, b: Any) -> Any:
        if (a.__class__ is int and b.__class__ is int and -0x3FFFFFFF <= a <= 0x3FFFFFFF
                and -0x3FFFFFFF <= b <= 0x3FFFFFFF):
            return a * b
        return _mul(a, b, False)

    def b_imul(a: Any, b: Any) -> Any:
        return _mul(a, b, True)

    def b_pow(a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int) and b > 0:
            if a not in (0, 1, -1):
                _int_bits((a.bit_length() - 1) * b + 1 if b <= MAX_INT_BITS else MAX_INT_BITS + 1, "**")
        return a ** b

    def b_lshift(a: Any, b: Any) -> Any:
        if isinstance(a, int) and isinstance(b, int) and a and b > 0:
            _int_bits(a.bit_length() + b, "<<")
        return a << b

    def b_mod(a: Any, b: Any) -> Any:
        if a.__class__ is int and b.__class__ is int:
            if not -_SMALL < b < _SMALL:
                _int_div(a, b, "%")
            return a % b
        if isinstance(a, int) and isinstance(b, int):
            _int_div(a, b, "%")
        elif isinstance(a, (str, bytes)):
            args = b if isinstance(b, r_tuple) else (b,)
            n = len(a)
            for x in args:
                if x.__class__ in _STR_OK:
                    n += len(x) if isinstance(x, (str, bytes)) else 24
                else:
                    n += walk_size(x)
            n += _format_widths(a, args)
            if n > MAX_WALK:
                raise LimitExceeded(f"%-formatting of about {n} characters: the limit is {MAX_WALK}")
            charge(n)
        return a % b

    # -- comparisons and membership: bounded by the size of one operand (Meter.compared)

    def b_eq(a: Any, b: Any) -> Any:
        if a.__class__ not in _FLAT and b.__class__ not in _FLAT:
            compared(a, b, "==")
        return a == b

    def b_ne(a: Any, b: Any) -> Any:
        if a.__class__ not in _FLAT and b.__class__ not in _FLAT:
            compared(a, b, "!=")
        return a != b

    def b_lt(a: Any, b: Any) -> Any:
        if a.__class__ not in _FLAT and b.__class__ not in _FLAT:
            compared(a, b, "<")
        return a < b

    def b_le(a: Any, b: Any) -> Any:
        if a.__class__ not in _FLAT and b.__class__ not in _FLAT:
            compared(a, b, "<=")
        return a <= b

    def b_gt(a: Any, b: Any) -> Any:
        if a.__class__ not in _FLAT and b.__class__ not in _FLAT:
            compared(a, b, ">")
        return a > b

    def b_ge(a: Any, b: Any) -> Any:
        if a.__class__ not in _FLAT and b.__class__ not in _FLAT:
            compared(a, b, ">=")
        return a >= b

    def b_in(x: Any, c: Any) -> Any:
        if c.__class__ in _HASHED_EXACT:
            return x in c
        return x in contained(x, c, "in")

    def b_notin(x: Any, c: Any) -> Any:
        if c.__class__ in _HASHED_EXACT:
            return x not in c
        return x not in contained(x, c, "not in")

    def c_cmpv(x: Any) -> Any:
        # an operand of a chained comparison (a < b < c): each is bounded, so every pair is
        if x.__class__ not in _FLAT:
            walked(x, "comparison")
        return x

    def b_slice(x: Any, lo: Any, hi: Any, step: Any) -> Any:
        r = x[lo:hi:step]
        if r.__class__ in _SLICED:
            charge(len(r))
        return r

    def c_tuple(*a: Any) -> tuple[Any, ...]:
        # a display: weighed if it holds a tuple (one without holds at most its static
        # length of elements, each within the limits)
        for e in a:
            if isinstance(e, r_tuple):
                tuple_weight(a)
                break
        return a

    def c_tuple1(a: Any) -> tuple[Any]:
        if isinstance(a, r_tuple):
            tuple_weight((a,))
        return (a,)

    def c_tuple2(a: Any, b: Any) -> tuple[Any, Any]:
        if isinstance(a, r_tuple) or isinstance(b, r_tuple):
            tuple_weight((a, b))
        return (a, b)

    def c_tuple3(a: Any, b: Any, c: Any) -> tuple[Any, Any, Any]:
        if isinstance(a, r_tuple) or isinstance(b, r_tuple) or isinstance(c, r_tuple):
            tuple_weight((a, b, c))
        return (a, b, c)

    def c_fmt(x: Any) -> Any:
        if x.__class__ not in _STR_OK:
            walked(x, "formatting")
        elif x.__class__ is str or x.__class__ is bytes:
            charge(len(x))  # copied into the result
        return x

    def c_star(x: Any) -> Any:
        return bounded(x, "unpacking (*)")

    def c_targs(a: tuple[Any, ...]) -> bool:
        check_tuple(a)
        return True

    def c_raised(e: Any) -> Any:
        if isinstance(e, BaseException):
            walked(e, "the exception raised")
        return e

    def c_setslice(x: Any, lo: Any, hi: Any, step: Any, v: Any) -> None:
        if isinstance(x, list):
            v = bounded(v, "slice assignment")
            n = len(x) + len(v)
            if n > MAX_LEN:
                raise LimitExceeded(f"slice assignment to {n} elements: the limit is {MAX_LEN}")
        x[lo:hi:step] = v

    # -- checked methods: str, bytes, list and dict receivers are checked

    def _width(what: str, n: Any) -> None:
        if isinstance(n, int) and n > MAX_LEN:
            raise LimitExceeded(f"{what}({n}): the limit is {MAX_LEN}")

    def _padder(name: str) -> Callable[..., Any]:
        def m(x: Any, *a: Any, **k: Any) -> Any:
            if isinstance(x, _STR_LIKE) and a:
                _width(name, a[0])
                charge(a[0] if isinstance(a[0], int) else 0)
            return getattr(x, name)(*a, **k)
        m.__name__ = f"m_{name}"
        return m

    def m_join(x: Any, *a: Any, **k: Any) -> Any:
        if isinstance(x, _STR_LIKE) and len(a) == 1 and not k:
            items = bounded(a[0], "join()")
            n = len(x) * max(len(items) - 1, 0)
            for e in items:
                n += len(e) if isinstance(e, (str, bytes, bytearray)) else 0
            if n > MAX_LEN:
                raise LimitExceeded(f"join() of {n} characters: the limit is {MAX_LEN}")
            charge(n)
            return x.join(items)
        return x.join(*a, **k)

    def m_expandtabs(x: Any, *a: Any, **k: Any) -> Any:
        if isinstance(x, _STR_LIKE):
            size = a[0] if a else k.get("tabsize", 8)
            if isinstance(size, int):
                n = len(x) + x.count("\t" if isinstance(x, str) else b"\t") * max(size, 0)
                if n > MAX_LEN:
                    raise LimitExceeded(f"expandtabs() to {n} characters: the limit is {MAX_LEN}")
                charge(n)
        return x.expandtabs(*a, **k)

    def m_replace(x: Any, *a: Any, **k: Any) -> Any:
        if isinstance(x, _STR_LIKE) and len(a) >= 2 and isinstance(a[0], _STR_LIKE) \
                and isinstance(a[1], _STR_LIKE):
            old, new = a[0], a[1]
            times = x.count(old) if old else len(x) + 1
            if len(a) > 2 and isinstance(a[2], int) and a[2] >= 0:
                times = min(times, a[2])
            n = len(x) + times * (len(new) - len(old))
            if n > MAX_LEN:
                raise LimitExceeded(f"replace() to {n} characters: the limit is {MAX_LEN}")
            charge(n)
        return x.replace(*a, **k)

    def m_translate(x: Any, *a: Any, **k: Any) -> Any:
        if isinstance(x, str) and a and isinstance(a[0], dict):
            longest = r_max((len(v) for v in a[0].values() if isinstance(v, str)), default=1)
            n = len(x) * longest
            if n > MAX_LEN:
                raise LimitExceeded(f"translate() to up to {n} characters: the limit is {MAX_LEN}")
            charge(n)
        return x.translate(*a, **k)

    def m_extend(x: Any, *a: Any, **k: Any) -> Any:
        if isinstance(x, list) and len(a) == 1 and not k:
            items = a[0] if isinstance(a[0], (list, r_tuple)) else bounded(a[0], "extend()")
            n = len(x) + len(items)
            if n > MAX_LEN:
                raise LimitExceeded(f"extend() to {n} elements: the limit is {MAX_LEN}")
            charge(len(items))
            return x.extend(items)
        return x.extend(*a, **k)

    def m_to_bytes(x: Any, *a: Any, **k: Any) -> Any:
        if isinstance(x, int):
            _width("to_bytes", a[0] if a else k.get("length", 1))
        return x.to_bytes(*a, **k)

    def m_items(x: Any, *a: Any, **k: Any) -> Any:
        if isinstance(x, dict) and not a and not k:
            charge(len(x))
            out = r_list(x.items())
            for key, v in out:
                if isinstance(key, (r_tuple, str, bytes)) or isinstance(v, (r_tuple, str, bytes)):
                    for pair in out:
                        check_tuple(pair)
                    break
            return out
        return x.items(*a, **k)

    def m_popitem(x: Any, *a: Any, **k: Any) -> Any:
        return check_tuple(x.popitem(*a, **k))

    def m_sort(x: Any, *a: Any, **k: Any) -> Any:
        if isinstance(x, list) and not a:
            key, reverse = k.get("key"), k.get("reverse", False)
            if set(k) - {"key", "reverse"}:
                return x.sort(*a, **k)
            n = len(x)
            charge(n * max(1, n.bit_length()))
            if key is None:
                walked(x, "sort()")
                return x.sort(reverse=reverse)
            keys = _keys(x, key, "sort()")
            order = r_sorted(r_range(n), key=keys.__getitem__, reverse=reverse)
            x[:] = [x[i] for i in order]
            return None
        return x.sort(*a, **k)

    def _searcher(name: str) -> Callable[..., Any]:
        def m(x: Any, *a: Any, **k: Any) -> Any:
            if isinstance(x, (list, r_tuple)) and a:
                contained(a[0], x, f"{name}()")
            elif isinstance(x, _STR_LIKE):
                charge(len(x))
            return getattr(x, name)(*a, **k)
        m.__name__ = f"m_{name}"
        return m

    def _copier(name: str) -> Callable[..., Any]:
        def m(x: Any, *a: Any, **k: Any) -> Any:
            r = getattr(x, name)(*a, **k)
            if isinstance(x, (str, bytes, bytearray, set, frozenset)):
                charge(len(x) + (len(r) if isinstance(r, (list, set, frozenset)) else 0))
            return r
        m.__name__ = f"m_{name}"
        return m

    def m_copy(x: Any, *a: Any, **k: Any) -> Any:
        if isinstance(x, (list, dict, set, frozenset)):
            charge(len(x))
        return x.copy(*a, **k)

    rng = _shim_type(r_range, s_range, lambda o: o, subclassable=False)
    rng._meter = m  # type: ignore[attr-defined]
    ns: dict[str, Any] = {
        "tuple": _shim_type(r_tuple, s_tuple, check_tuple),
        "list": _shim_type(r_list, s_list, lambda o: o),
        "dict": _shim_type(r_dict, s_dict, lambda o: o),
        "set": _shim_type(r_set, s_set, lambda o: o),
        "frozenset": _shim_type(r_frozenset, s_frozenset, lambda o: o),
        "str": _shim_type(r_str, s_str, lambda o: o),
        "bytes": _shim_type(r_bytes, s_bytes, lambda o: o),
        "range": rng,
        "sorted": s_sorted, "max": s_max, "min": s_min, "sum": s_sum, "all": s_all,
        "any": s_any, "hash": s_hash, "round": s_round, "zip": s_zip, "enumerate": s_enumerate,
        "__b_add__": b_add, "__b_iadd__": b_iadd, "__b_mul__": b_mul, "__b_imul__": b_imul,
        "__b_pow__": b_pow, "__b_lshift__": b_lshift, "__b_mod__": b_mod,
        "__c_tuple__": c_tuple, "__c_tuple1__": c_tuple1, "__c_tuple2__": c_tuple2,
        "__c_tuple3__": c_tuple3, "__c_fmt__": c_fmt, "__c_star__": c_star,
        "__c_targs__": c_targs, "__c_raised__": c_raised, "__c_setslice__": c_setslice,
        "__c_checked__": check_tuple,
        "__m_join__": m_join, "__m_expandtabs__": m_expandtabs, "__m_replace__": m_replace,
        "__m_translate__": m_translate, "__m_extend__": m_extend, "__m_to_bytes__": m_to_bytes,
        "__m_items__": m_items, "__m_popitem__": m_popitem, "__m_sort__": m_sort,
        "__m_copy__": m_copy,
        "int": _shim_type(r_int, s_int, _checked_int), "divmod": s_divmod,
        "__b_floordiv__": b_floordiv, "__b_eq__": b_eq, "__b_ne__": b_ne, "__b_lt__": b_lt,
        "__b_le__": b_le, "__b_gt__": b_gt, "__b_ge__": b_ge, "__b_in__": b_in,
        "__b_notin__": b_notin, "__c_cmpv__": c_cmpv, "__b_slice__": b_slice,
    }
    for name in ("ljust", "rjust", "center", "zfill"):
        ns[f"__m_{name}__"] = _padder(name)
    for name in ("index", "count", "remove"):
        ns[f"__m_{name}__"] = _searcher(name)
    for name in COPYING_METHODS:
        ns[f"__m_{name}__"] = _copier(name)
    for key, fn in list(ns.items()):
        if key.startswith("__m_"):
            ns[key] = _unbound(key[4:-2], fn)

    def c_method(x: Any, name: str) -> Any:
        # ``x.join`` taken as a value: the checked method bound to ``x`` if it is the
        # builtin's own (a bound or unbound builtin method), else the attribute as it is
        v = getattr(x, name)
        if v.__class__ in _BUILTIN_METHODS:
            return functools.partial(ns[f"__m_{name}__"], x)
        return v

    ns["__c_method__"] = c_method
    return ns


def _unbound(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, also for the method called through its type (``str.join(sep, items)``,
    ``list.extend(l, it)``): the receiver is then the first argument."""
    def m(x: Any, *a: Any, **k: Any) -> Any:
        if isinstance(x, type) and a and isinstance(a[0], x):
            return fn(a[0], *a[1:], **k)
        return fn(x, *a, **k)
    m.__name__ = fn.__name__
    return m


_STR_OK = frozenset({str, int, float, bool, type(None), bytes})
_BUILTIN_METHODS = frozenset({type("".join), type(str.join), type(dict.fromkeys)})
_CONCAT: Any = (str, bytes, bytearray, list, _real_tuple)
#: values a comparison with anything is bounded by (by their own size, at most MAX_LEN)
_FLAT = frozenset({int, float, bool, str, bytes, type(None), complex})
#: containers whose membership test is a hash lookup (the key is hashable: within the
#: tuple invariant)
_HASHED: Any = (dict, set, frozenset, type({}.keys()))
_HASHED_EXACT = frozenset({dict, set, frozenset})
#: slices whose length is what they copied
_SLICED = frozenset({list, _real_tuple, str, bytes, bytearray})
#: bits per digit of int(s, base)
_LOG2 = {b: math.log2(b) for b in range(2, 37)}


def _format_widths(fmt: Any, args: tuple[Any, ...]) -> int:
    """Characters the widths and precisions of a %-format may add: literal ones, and
    ``*`` ones taken from ``args`` (an int argument bounds them from above)."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    n = 0
    for part in text.split("%")[1:]:
        num = ""
        for ch in part:
            if ch.isdigit():
                num += ch
                if len(num) > 9:
                    return MAX_WALK + 1
            elif ch == "*":
                n += max((a for a in args if isinstance(a, int)), default=0)
            elif ch in "-+ #0.":
                n += int(num or 0)
                num = ""
            else:
                break
        n += int(num or 0)
    return n


# ------------------------------------------------------------ the static rules


def _spec_width(spec: str) -> int | None:
    """The largest number in a literal format spec (its width or precision), or None."""
    digits = "".join(ch if ch.isdigit() else " " for ch in spec).split()
    return max((int(d) for d in digits), default=None) if digits else None


def static_violations(tree: ast.AST) -> list[tuple[int, int, str, str]]:
    """(line, col, code, message) for each use the shims cannot check (E120-E123)."""
    out: list[tuple[int, int, str, str]] = []
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}

    def bad(n: ast.AST, code: str, msg: str) -> None:
        out.append((getattr(n, "lineno", 1), getattr(n, "col_offset", 0) + 1, code, msg))

    def spec(n: ast.AST, s: str) -> None:
        w = _spec_width(s)
        if w is not None and w > MAX_LEN:
            bad(n, "E121", f"format width or precision above {MAX_LEN} is not allowed: {w}")

    for n in ast.walk(tree):
        if isinstance(n, ast.Attribute) and n.attr in MUTATORS and id(n) not in called:
            bad(n, "E120", f"'.{n.attr}' may only be called where it is named, not taken as a value "
                           "(a builtin calling it would grow a container in C)")
        elif isinstance(n, ast.FormattedValue) and n.format_spec is not None:
            parts = n.format_spec.values if isinstance(n.format_spec, ast.JoinedStr) else []
            if any(isinstance(p, ast.FormattedValue) for p in parts):
                bad(n, "E121", "a format spec computed at run time is not allowed (its width is unbounded)")
            for p in parts:
                if isinstance(p, ast.Constant) and isinstance(p.value, str):
                    spec(n, p.value)
        elif (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
              and n.func.attr in ("format", "format_map") and isinstance(n.func.value, ast.Constant)
              and isinstance(n.func.value.value, str)):
            try:
                fields = list(string.Formatter().parse(n.func.value.value))
            except ValueError:
                continue
            for _lit, _name, sp, _conv in fields:
                if sp and "{" in sp:
                    bad(n, "E121", "a format spec computed at run time is not allowed (its width is unbounded)")
                elif sp:
                    spec(n, sp)
        elif isinstance(n, ast.For | ast.comprehension):
            if any(isinstance(t, ast.Starred) for t in ast.walk(n.target)):
                bad(n.target, "E122", "a starred target in a loop is not allowed; unpack in the body")
        elif isinstance(n, ast.MatchValue) and not _literal(n.value) and not (
                isinstance(n.value, ast.BinOp) and _literal(n.value.left) and _literal(n.value.right)):
            bad(n, "E123", "a value pattern that is not a literal compares unchecked; capture it and "
                           "compare in a guard ('case x if x == Table.X:')")
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Subscript) \
                and isinstance(n.target.slice, ast.Slice):
            bad(n, "E122", "augmented assignment to a slice is not allowed; assign the slice")
        elif isinstance(n, ast.Assign) and len(n.targets) > 1 and any(
                isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Slice) for t in n.targets):
            bad(n, "E122", "assignment to a slice must have one target")
    return out


# ------------------------------------------------------------ memory no shim counts


#: Bytes one budget tick stands for, of memory allocated where no shim or checked operator
#: counts it (displays, calls' results, stores, functions made): a tick whose code may
#: allocate more counts as several (``alloc_ticks``), so SETTLE_EVERY ticks (verifier.py)
#: allocate at most SETTLE_EVERY x TICK_BYTES uncounted bytes between two measurements.
TICK_BYTES = 1024
#: A call's result when no shim counts it: at most an instance of an extension's class and
#: its __dict__ (56 + 296 bytes on CPython 3.11), or a small value. (The callee's own code
#: counts what it allocates: its ticks, or, with none, at most CALL_BYTES: ``alloc_ticks``.)
CALL_BYTES = 384
#: A store into a dict, a list or an object's __dict__ (an entry, amortised over resizes).
STORE_BYTES = 64
#: A function or lambda made (152 bytes, with its defaults and closure cells); a class.
FUNCTION_BYTES = 256
CLASS_BYTES = 4096
#: A number computed by an unchecked operator (ints to 64 bits, floats).
NUMBER_BYTES = 32
#: An element a comprehension adds to what it builds (list: 8, set or dict: an entry
#: amortised over resizes).
ELEMENT_BYTES = {ast.ListComp: 16, ast.GeneratorExp: 0, ast.SetComp: 64, ast.DictComp: 96}


@functools.lru_cache(maxsize=256)
def _display_bytes(kind: str, n: int) -> int:
    """What CPython allocates for a display of ``n`` elements (measured, once per size);
    ``kind`` is the display's AST class name."""
    if kind == "List":
        return sys.getsizeof(_real_list(_real_range(n))) + 8
    if kind == "Tuple":
        return sys.getsizeof(_real_tuple(_real_range(n)))
    if kind == "Set":
        return sys.getsizeof(builtins.set(_real_range(n)))
    return sys.getsizeof(dict.fromkeys(_real_range(n)))


_COMP_CONTAINER = {ast.ListComp: "List", ast.SetComp: "Set", ast.DictComp: "Dict"}


class AllocBound:
    """An upper bound of the bytes straight-line code allocates where nothing counts them.

    The region is the code one budget tick stands for (a loop body, a function's body, a
    comprehension's element), as ``_Weigh`` weighs it in verifier.py: nested loops' bodies,
    nested functions' bodies and comprehensions' elements have ticks of their own and are
    not counted again (making a function, a comprehension's container, a loop's iterator
    are). An ``if`` and a ``match`` count their heavier arm (one run takes one). What the
    shims and checked operators make is counted where they run (``Meter.charge``), so they
    count here only as a call's result. A sound bound per site: a display by its measured
    size, a call's result ``CALL_BYTES``, a store ``STORE_BYTES``, a function made
    ``FUNCTION_BYTES``, a number ``NUMBER_BYTES``, a small constant slice its 64 elements.
    """

    def __init__(self, tree: ast.AST | None = None) -> None:
        # a call of an allow-listed builtin the module never rebinds is a shim (it counts what
        # it makes) or returns a number: NUMBER_BYTES, not CALL_BYTES
        bound: set[str] = set()
        for n in ast.walk(tree) if tree is not None else ():
            if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                bound.add(n.id)
            elif isinstance(n, ast.FunctionDef | ast.ClassDef):
                bound.add(n.name)
            elif isinstance(n, ast.arg):
                bound.add(n.arg)
            elif isinstance(n, ast.alias):
                bound.add((n.asname or n.name).split(".")[0])
            elif isinstance(n, ast.MatchAs | ast.MatchStar) and n.name:
                bound.add(n.name)
            elif isinstance(n, ast.ExceptHandler) and n.name:
                bound.add(n.name)
        self.builtins = frozenset(n for n in dir(builtins) if not n.startswith("_")) - bound

    def block(self, stmts: list[ast.stmt]) -> int:
        return sum(self.stmt(s) for s in stmts)

    def stmt(self, s: ast.stmt) -> int:
        if isinstance(s, ast.For):
            return self.expr(s.iter) + 64 + self.block(s.orelse)  # its iterator, made once
        if isinstance(s, ast.While):
            return self.expr(s.test) + self.block(s.orelse)
        if isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef):
            return FUNCTION_BYTES + self._defaults(s.args)
        if isinstance(s, ast.ClassDef):
            return CLASS_BYTES + sum(self.expr(b) for b in s.bases) + self.block(s.body)
        if isinstance(s, ast.If):
            return self.expr(s.test) + max(self.block(s.body), self.block(s.orelse))
        if isinstance(s, ast.Try | ast.TryStar):
            return (self.block(s.body) + max((self.block(h.body) for h in s.handlers), default=0)
                    + self.block(s.orelse))
        if isinstance(s, ast.Match):
            return self.expr(s.subject) + max(
                (self.block(c.body) + (self.expr(c.guard) if c.guard else 0) for c in s.cases), default=0)
        n = 0
        if isinstance(s, ast.Assign | ast.AugAssign | ast.AnnAssign):
            for t in s.targets if isinstance(s, ast.Assign) else [s.target]:
                n += sum(STORE_BYTES for x in ast.walk(t) if isinstance(x, ast.Subscript | ast.Attribute)
                         and isinstance(x.ctx, ast.Store))
            if isinstance(s, ast.AugAssign):
                n += NUMBER_BYTES  # (a sequence's += is a checked operator: counted there)
        return n + sum(self.expr(c) for c in ast.iter_child_nodes(s) if isinstance(c, ast.expr))

    def _defaults(self, a: ast.arguments) -> int:
        return sum(self.expr(d) for d in [*a.defaults, *a.kw_defaults] if d is not None)

    def expr(self, e: ast.expr) -> int:
        if isinstance(e, ast.Lambda):
            return FUNCTION_BYTES + self._defaults(e.args)
        if isinstance(e, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            kind = _COMP_CONTAINER.get(type(e))
            made = _display_bytes(kind, 0) if kind is not None else 256  # a generator object
            return made + 256 + self.expr(e.generators[0].iter)  # and its code's function
        if isinstance(e, ast.IfExp):
            return self.expr(e.test) + max(self.expr(e.body), self.expr(e.orelse))
        own = 0
        if isinstance(e, ast.Call):
            f = e.func
            own = NUMBER_BYTES if isinstance(f, ast.Name) and f.id in self.builtins else CALL_BYTES
        elif isinstance(e, ast.List | ast.Tuple | ast.Set):
            if not (isinstance(e, ast.List | ast.Tuple) and isinstance(e.ctx, ast.Store | ast.Del)):
                own = _display_bytes(type(e).__name__, len(e.elts))
        elif isinstance(e, ast.Dict):
            own = _display_bytes("Dict", len(e.keys))
        elif isinstance(e, ast.BinOp | ast.UnaryOp):
            own = NUMBER_BYTES
        elif isinstance(e, ast.JoinedStr):  # its text, and each field: 64 characters or its width
            own = 64 + sum(len(v.value) if isinstance(v, ast.Constant) and isinstance(v.value, str)
                           else 64 + _spec_bytes(v) for v in e.values)
        elif isinstance(e, ast.Call) and isinstance(e.func, ast.Attribute) and e.func.attr == "format" \
                and isinstance(e.func.value, ast.Constant) and isinstance(e.func.value.value, str):
            own = CALL_BYTES + _format_bytes(e.func.value.value) + 64 * (len(e.args) + len(e.keywords))
        elif isinstance(e, ast.Subscript) and isinstance(e.slice, ast.Slice):
            own = _display_bytes("List", SMALL_SLICE)
        return own + sum(self.expr(c) for c in ast.iter_child_nodes(e) if isinstance(c, ast.expr))

    def comprehension(self, node: ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp,
                      i: int) -> int:
        """What one element of generator ``i`` of ``node`` allocates: its conditions, and the
        next generator's iterator or (innermost) the element and its place in the result."""
        g = node.generators[i]
        n = sum(self.expr(c) for c in g.ifs)
        if i + 1 < len(node.generators):
            return n + self.expr(node.generators[i + 1].iter) + 64
        if isinstance(node, ast.DictComp):
            n += self.expr(node.key) + self.expr(node.value)
        else:
            n += self.expr(node.elt)
        return n + ELEMENT_BYTES[type(node)]


def _spec_bytes(v: ast.expr) -> int:
    """The width or precision a formatted field's literal spec asks for (0 if none)."""
    spec = v.format_spec if isinstance(v, ast.FormattedValue) else None
    if not isinstance(spec, ast.JoinedStr):
        return 0
    return sum(_spec_width(p.value) or 0 for p in spec.values
               if isinstance(p, ast.Constant) and isinstance(p.value, str))


def _format_bytes(template: str) -> int:
    """What ``template.format(...)`` writes besides its fields' values: its text and widths."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return len(template)
    return sum(len(lit) + (_spec_width(sp) or 0 if sp else 0) for lit, _n, sp, _c in fields)


def alloc_ticks(nbytes: int) -> int:
    """The ticks a region allocating ``nbytes`` uncounted counts for (at least 1)."""
    return max(1, -(-nbytes // TICK_BYTES))


# ------------------------------------------------------------ the rewrite


def _const(e: ast.expr) -> bool:
    return isinstance(e, ast.Constant)


def _num(e: ast.expr) -> bool:
    return isinstance(e, ast.Constant) and type(e.value) in (int, float, complex, bool)


def _call(name: str, args: list[ast.expr], at: ast.AST) -> ast.Call:
    return ast.copy_location(ast.Call(ast.Name(name, ast.Load()), args, []), at)


_BINOPS: dict[type[ast.operator], str] = {ast.Add: "__b_add__", ast.Mult: "__b_mul__",
                                          ast.Pow: "__b_pow__", ast.LShift: "__b_lshift__",
                                          ast.Mod: "__b_mod__", ast.FloorDiv: "__b_floordiv__"}
_AUGOPS: dict[type[ast.operator], str] = {ast.Add: "__b_iadd__", ast.Mult: "__b_imul__",
                                          ast.Pow: "__b_pow__", ast.LShift: "__b_lshift__",
                                          ast.Mod: "__b_mod__", ast.FloorDiv: "__b_floordiv__"}
_CMPOPS: dict[type[ast.cmpop], str] = {ast.Eq: "__b_eq__", ast.NotEq: "__b_ne__", ast.Lt: "__b_lt__",
                                       ast.LtE: "__b_le__", ast.Gt: "__b_gt__", ast.GtE: "__b_ge__",
                                       ast.In: "__b_in__", ast.NotIn: "__b_notin__"}


def _small_num(e: ast.expr) -> bool:
    """A constant number a division by (or of) is linear: a float, or an int of at most 64 bits."""
    if not _num(e):
        return False
    v = e.value  # type: ignore[attr-defined]
    return not isinstance(v, int) or -(1 << 64) < v < 1 << 64


def _needs_check(op: ast.operator, left: ast.expr, right: ast.expr) -> bool:
    if _const(left) and _const(right):
        return False  # the compiler folds it (or it is as written)
    if isinstance(op, ast.Add):  # (with a str, bytes or tuple constant it copies the other operand)
        return not (_num(left) or _num(right))
    if isinstance(op, ast.Mod | ast.FloorDiv):
        return not (_small_num(left) or _small_num(right))
    return True


def _literal(e: ast.expr) -> bool:
    """A constant, or a signed number literal (``-1``)."""
    return _const(e) or (isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub | ast.UAdd)
                         and _num(e.operand))


def _cmp_needs_check(op: ast.cmpop, left: ast.expr, right: ast.expr) -> bool:
    """A comparison with a constant is bounded by the constant; ``x in CONST`` by it too."""
    if type(op) not in _CMPOPS:
        return False  # is, is not
    if isinstance(op, ast.In | ast.NotIn):
        return not _literal(right)
    return not (_literal(left) or _literal(right))


def _slice_len(s: ast.Slice) -> int | None:
    """The most elements a slice with constant bounds selects, or None if not constant."""
    def const(e: ast.expr | None) -> int | None | bool:
        if e is None:
            return None
        if isinstance(e, ast.Constant) and type(e.value) is int:
            return int(e.value)
        if (isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub) and isinstance(e.operand, ast.Constant)
                and type(e.operand.value) is int):
            return -int(e.operand.value)
        return False
    lo, hi, step = const(s.lower), const(s.upper), const(s.step)
    if lo is False or hi is False or step is False or (step is not None and step < 1):
        return None
    if lo is None:
        lo = 0
    if hi is None:
        return -lo if lo < 0 else None
    if (lo < 0) != (hi < 0) and lo != 0:
        return None
    return max(hi - lo, 0) if hi >= 0 or lo < 0 else None


class _Rewrite(ast.NodeTransformer):
    """The checked forms of the module note. Runs after the budget's ticks are inserted, so
    the ticks and their weights are those of the source as written."""

    _tmp = 0

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        name = _BINOPS.get(type(node.op))
        if name is None or not _needs_check(node.op, node.left, node.right):
            return node
        return _call(name, [node.left, node.right], node)

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        self.generic_visit(node)
        name = _AUGOPS.get(type(node.op))
        if name is None or not _needs_check(node.op, node.target, node.value):
            return node
        t = node.target
        pre: list[ast.stmt] = []
        if isinstance(t, ast.Attribute):
            obj = self._temp(t.value, pre, node)
            load: ast.expr = ast.Attribute(obj, t.attr, ast.Load())
            store: ast.expr = ast.Attribute(obj, t.attr, ast.Store())
        elif isinstance(t, ast.Subscript):
            obj = self._temp(t.value, pre, node)
            key = self._temp(t.slice, pre, node)
            load, store = ast.Subscript(obj, key, ast.Load()), ast.Subscript(obj, key, ast.Store())
        else:
            assert isinstance(t, ast.Name)
            load, store = ast.Name(t.id, ast.Load()), ast.Name(t.id, ast.Store())
        assign = ast.Assign([store], _call(name, [load, node.value], node))
        return [*pre, ast.copy_location(assign, node)]

    def _temp(self, e: ast.expr, pre: list[ast.stmt], at: ast.AST) -> ast.expr:
        if isinstance(e, ast.Name | ast.Constant):
            return e
        _Rewrite._tmp += 1
        name = f"__t{_Rewrite._tmp}__"
        pre.append(ast.copy_location(ast.Assign([ast.Name(name, ast.Store())], e), at))
        return ast.Name(name, ast.Load())

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        operands = [node.left, *node.comparators]
        pairs = [_cmp_needs_check(op, operands[i], operands[i + 1]) for i, op in enumerate(node.ops)]
        if not any(pairs):
            return node
        if len(node.ops) == 1:
            return _call(_CMPOPS[type(node.ops[0])], operands, node)
        # a chain (a < b < c), each operand evaluated once: every operand of a pair that needs
        # checking is walked first, which bounds every comparison it takes part in
        need: set[int] = set()
        for i, p in enumerate(pairs):
            if p:
                need.update((i, i + 1))
        new = [(_call("__c_cmpv__", [e], e) if i in need and not _literal(e) else e)
               for i, e in enumerate(operands)]
        node.left, node.comparators = new[0], new[1:]
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        self.generic_visit(node)
        s = node.slice
        if isinstance(node.ctx, ast.Load) and isinstance(s, ast.Slice):
            n = _slice_len(s)
            if n is None or n > SMALL_SLICE:
                none = ast.Constant(None)
                return _call("__b_slice__", [node.value, s.lower or none, s.upper or none,
                                             s.step or none], node)
        return node

    def visit_Tuple(self, node: ast.Tuple) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load) and not all(_const(e) for e in node.elts):
            n = len(node.elts)
            small = n <= 3 and not any(isinstance(e, ast.Starred) for e in node.elts)
            return _call(f"__c_tuple{n}__" if small else "__c_tuple__", node.elts, node)
        return node

    def visit_Starred(self, node: ast.Starred) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.ctx, ast.Load):
            node.value = _call("__c_star__", [node.value], node)
        return node

    def visit_Dict(self, node: ast.Dict) -> ast.AST:
        self.generic_visit(node)
        node.values = [_call("__c_star__", [v], v) if k is None else v
                       for k, v in zip(node.keys, node.values, strict=True)]
        return node

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        self.generic_visit(node)
        t = node.targets[0]
        if any(isinstance(x, ast.Starred) for x in ast.walk(t)) and isinstance(t, ast.Tuple | ast.List):
            node.value = _call("__c_star__", [node.value], node)
        if len(node.targets) == 1 and isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Slice):
            s = t.slice
            none = ast.Constant(None)
            args = [t.value, s.lower or none, s.upper or none, s.step or none, node.value]
            return ast.copy_location(ast.Expr(_call("__c_setslice__", args, node)), node)
        return node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        node.value = _call("__c_fmt__", [node.value], node)
        return node

    def visit_Raise(self, node: ast.Raise) -> ast.AST:
        self.generic_visit(node)
        if node.exc is not None:
            node.exc = _call("__c_raised__", [node.exc], node)
        if node.cause is not None:
            node.cause = _call("__c_raised__", [node.cause], node)
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in CHECKED_METHODS:
            f.value = self.visit(f.value)
            node.args = [self.visit(a) for a in node.args]
            for k in node.keywords:
                k.value = self.visit(k.value)
            return ast.copy_location(ast.Call(ast.Name(f"__m_{f.attr}__", ast.Load()),
                                              [f.value, *node.args], node.keywords), node)
        self.generic_visit(node)
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in ("format", "format_map"):
            node.args = [_call("__c_fmt__", [a], a) if not isinstance(a, ast.Starred) else a
                         for a in node.args]
            for k in node.keywords:
                k.value = _call("__c_fmt__", [k.value], k.value)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if node.attr == "args" and isinstance(node.ctx, ast.Load):
            return _call("__c_checked__", [node], node)
        if node.attr in CHECKED_METHODS and isinstance(node.ctx, ast.Load):
            # taken as a value (a call is rewritten in visit_Call, before this is reached)
            return _call("__c_method__", [node.value, ast.Constant(node.attr)], node)
        return node

    def _varargs(self, node: ast.FunctionDef | ast.Lambda) -> None:
        va = node.args.vararg
        if va is None:
            return
        check = _call("__c_targs__", [ast.Name(va.arg, ast.Load())], node)
        if isinstance(node, ast.Lambda):
            node.body = ast.copy_location(ast.BoolOp(ast.And(), [check, node.body]), node.body)
        else:
            node.body.insert(0, ast.copy_location(ast.Expr(check), node))

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        self.generic_visit(node)
        self._varargs(node)
        _untimed_growth(node, node.body)
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self.generic_visit(node)
        self._varargs(node)
        return node


def _untimed_growth(node: ast.FunctionDef, body: list[ast.stmt]) -> None:
    """A function the budget left untouched (no loop, no call) that grows a container in
    place (an augmented assignment) could be called from a C loop over that container for
    ever: give it a tick of weight 0 (it counts, it costs no simulated time)."""
    first = body[0] if body else None
    ticked = (isinstance(first, ast.Expr) and isinstance(first.value, ast.Call)
              and isinstance(first.value.func, ast.Name) and first.value.func.id in ("__budget__", "__budget_n__"))
    if ticked:
        return
    for n in ast.walk(node):
        if n is not node and isinstance(n, ast.FunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(n, ast.AugAssign) or (isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
                                            and isinstance(n.value.func, ast.Name)
                                            and n.value.func.id == "__c_setslice__"):
            tick = ast.Expr(ast.Call(ast.Name("__budget__", ast.Load()), [ast.Constant(0)], []))
            body.insert(0, ast.copy_location(tick, node))
            return


def hidden_kind(name: str) -> str | None:
    """What a call of the hidden name ``name`` stands for in the source as written (for
    bench/audit.py, which weighs bytecode): "op" (an operator), "display" (a tuple display
    of the call's arguments), "method" (a method call), "store" (a slice store), "load"
    (an attribute read), "none"
    (nothing: a check only); None if ``name`` is not one of rewrite's names."""
    if name == "__b_slice__":
        return "load"
    if name.startswith("__b_"):
        return "op"
    if name.startswith("__m_"):
        return "method"
    if name.startswith("__c_tuple"):
        return "display"
    if name == "__c_setslice__":
        return "store"
    if name == "__c_method__":
        return "load"
    return "none" if name.startswith("__c_") else None


def rewrite(tree: ast.Module) -> ast.Module:
    """``tree`` with the checked forms of the module note (in place; also returned)."""
    return ast.fix_missing_locations(_Rewrite().visit(tree))


__all__ = ["BOUNDED", "CALL_BYTES", "CHECKED_METHODS", "DEFAULT_QUOTA", "TICK_BYTES", "AllocBound",
           "alloc_ticks", "LimitExceeded", "MAX_DEPTH",
           "MAX_INT_BITS", "MAX_LEN", "MAX_WALK", "MAX_WEIGHT", "MUTATORS", "Meter", "QUOTA_STEP",
           "SHIMMED", "TICK_ELEMENTS", "check_tuple", "hidden_kind", "rewrite", "static_violations",
           "tuple_weight", "walk_size"]

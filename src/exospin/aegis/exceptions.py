"""Exception dispatch, upcalls and TLB refill: every event straight to its environment.

What this models
    Aegis' exception and address-translation paths (Engler et al., section 5:
    exceptions, address translation, and the software TLB of stlb.py):

    * a TLB miss is served from the software TLB when the binding is cached
      there, then from the environment's guaranteed mappings, and otherwise
      upcalled to the environment's TLB-miss handler, which installs a binding
      with ``tlb_write`` (a secure binding: the capability is checked there,
      once);
    * any other exception saves three scratch registers in the environment's
      save area and jumps to its handler, which returns to the faulting code
      itself, with no trip back through the kernel;
    * an upcall (prologue, epilogue, revocation) is entered the same way;
    * an exception with no handler, or nested too deep, kills the environment
      with the reason.

Why it is built this way
    These are the paths the exc_* and tlb_refill_* benchmarks time, so the
    common ones are written out rather than routed through the general
    ``_dispatch``: the refill vector is a closure over the STLB's arrays (see
    ``_make_refill``), and ``_exception`` inlines the dispatch for the three
    common exceptions. The generic ``_dispatch`` remains the one place that
    counts, kills and explains the uncommon ones.

Interface (to the other layers)
    ``_make_refill()`` and ``_exception`` (the CPU's vectors, installed by
    ``Aegis``); ``_dispatch(env, kind, *args)``; ``_upcall(env, kind, fn,
    *args)``; ``_kill_current(env, why)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..machine import Exc
from . import param
from .core import Core
from .env import Environment
from .errors import EnvironmentKilled

# The codes _exception tests on every exception, read once: an attribute of an Enum
# class goes through EnumType.__getattr__ in CPython 3.11, about two plain calls each.
_OV, _MOD = Exc.OV, Exc.MOD

_EXC_HANDLER = {
    Exc.MOD: "protection",
    Exc.ADEL: "address_error",
    Exc.ADES: "address_error",
    Exc.OV: "overflow",
}


class Exceptions(Core):
    """Exception dispatch, upcalls and the TLB-refill vector (see the module note)."""

    __slots__ = ()

    def _make_refill(self) -> Callable[[int, int, bool], int | None]:
        """Build the TLB-refill vector: the STLB, then guaranteed mappings, then the library OS.

        A closure over the STLB's arrays, inlined for performance: it runs
        on every TLB miss, and a hit in the STLB must cost little more than
        the hardware's own refill (the benchmark tlb_refill_stlb). The hit
        path is kept lean: the STLB miss is a second closure, since every
        call of a closure copies all the cells it closes over (CPython 3.11),
        and the ASID's term of the index is read from a table rather than
        multiplied out, which would allocate an int on every refill.
        """
        loop = self.loop
        tlb = self.tlb
        slots, mask = self.stlb.slots, self.stlb.mask
        # the CPU's trap entry plus the kernel's STLB hit path
        c_hit = self.m.profile.trap_entry + self.c.stlb_hit
        c_miss = self.m.profile.trap_entry + self.c.stlb_miss
        c_guaranteed = self.c.stlb_hit - self.c.stlb_miss
        hits = misses = 0
        # stlb_index()'s ASID term, asid * 0x9E5, for every ASID a key holds (8 bits)
        asid_mix = [asid * 0x9E5 for asid in range(256)]

        nwords = tlb.memory_words
        # for the upcall (stlb_miss): constants of the kernel's life
        c_exc_dispatch, c_exc_return = self._c_exc_dispatch, self._c_exc_return
        cpu = self.cpu
        # ``detailed`` memory: the same paths, touching their text and the STLB slot they
        # probe (core.Footprints), and on an upcall the environment's lines; None: ideal
        touch, fp = self._touch, self.fp
        if touch is not None:
            fp_hit, fp_miss, fp_exc, slot_at, env_at = fp.stlb_hit, fp.stlb_miss, fp.exc, fp.stlb_slot, fp.env
            touch_hit = touch  # (not None: for the hit path, which tests nothing)

        def refill(vpn: int, vaddr: int, write: bool) -> int | None:
            nonlocal hits
            i = (vpn ^ asid_mix[tlb.asid]) & mask  # stlb_index(), inlined
            s = slots[i]
            if s[3] == vpn:  # the tag: for one page, the index implies the ASID (stlb_index)
                hits += 1
                loop.now += c_hit
                return s[5]  # the entry as the TLB holds it: the CPU performs the closing tlbwr
            return stlb_miss(vpn << 8 | tlb.asid, i, vaddr, write)

        def refill_detailed(vpn: int, vaddr: int, write: bool) -> int | None:
            """``refill`` under ``detailed`` memory: the hit touches its lines. Kept apart so
            that the ideal hit path stays as it was."""
            nonlocal hits
            i = (vpn ^ asid_mix[tlb.asid]) & mask
            s = slots[i]
            if s[3] == vpn:
                hits += 1
                loop.now += c_hit
                touch_hit(fp_hit, slot_at(i))
                return s[5]
            return stlb_miss(vpn << 8 | tlb.asid, i, vaddr, write)

        def stlb_miss(key: int, i: int, vaddr: int, write: bool) -> int | None:
            """The STLB missed (slot ``i``): a guaranteed mapping, else upcall the library OS.

            The upcall is ``_dispatch(env, "tlb_miss", vaddr, write)`` written out,
            as ``_exception`` does for the common exceptions: it is the path of
            every STLB miss (the benchmark tlb_refill_upcall), and the generic
            one packs and unpacks ``*args`` and tests the kind for its messages.
            A missing handler or too deep a nesting still goes to ``_dispatch``,
            which counts the exception and kills with the reason.
            """
            nonlocal misses
            misses += 1
            loop.now += c_miss
            if touch is not None:
                touch(fp_miss, slot_at(i))
            env = self.current
            assert env is not None
            g = env.guaranteed.get(key)
            if g is not None:
                loop.now += c_guaranteed
                return g[0] if g[1] else g[0] - nwords
            h = env.handlers.get("tlb_miss")
            if h is None or env.exc_depth >= param.MAX_EXC_NEST:
                self._dispatch(env, "tlb_miss", vaddr, write)  # kills, with the reason
                return None
            self.exceptions += 1
            env.exceptions += 1
            loop.now += c_exc_dispatch
            if touch is not None:
                touch(fp_exc, env_at(env.id))
            env.save_area[:3] = cpu.regs[:3]  # the three scratch registers the kernel clobbers
            env.exc_depth += 1
            start = loop.now
            try:
                h(vaddr, write)
            finally:
                env.exc_depth -= 1
                loop.now += c_exc_return
                if self.tracer is not None:
                    self.tracer.span("tlb_miss", "exception", env.id, start, loop.now)
            return None

        self._refill_counts = lambda: (hits, misses)
        return refill if touch is None else refill_detailed

    def _exception(self, code: Exc, vaddr: int, write: bool, value: int) -> Any:
        """General exception vector: straight to the environment's handler.

        The body of _dispatch, written out for the common exceptions: this
        is the path the exc_* benchmarks time.
        """
        env: Environment = self.current  # type: ignore[assignment]
        kind = _EXC_HANDLER.get(code)
        h = env.handlers.get(kind) if kind is not None else None
        if h is None or env.exc_depth >= param.MAX_EXC_NEST:
            if kind is None:
                self._kill_current(env, f"unexpected exception {code.name}")
            args = (value,) if kind == "overflow" else (vaddr,) if kind == "protection" else (vaddr, write, value)
            return self._dispatch(env, kind, *args)  # type: ignore[arg-type]  # kills, with the reason
        self.exceptions += 1
        env.exceptions += 1
        loop = self.loop
        loop.now += self._c_exc_dispatch
        if self._touch is not None:
            self._touch(self.fp.exc, self.fp.env(env.id))
        env.save_area[:3] = self.cpu.regs[:3]  # the three scratch registers the kernel clobbers
        env.exc_depth += 1
        start = loop.now
        try:
            if code is _OV:
                return h(value)
            if code is _MOD:
                return h(vaddr)
            return h(vaddr, write, value)
        finally:
            env.exc_depth -= 1
            loop.now += self._c_exc_return
            if self.tracer is not None:
                self.tracer.span(kind, "exception", env.id, start, loop.now)  # type: ignore[arg-type]

    def _dispatch(self, env: Environment, kind: str, *args: Any) -> Any:
        """Save three registers, run the handler in user mode, let it return to the fault."""
        self.exceptions += 1
        env.exceptions += 1
        h = env.handlers.get(kind)
        if h is None:
            detail = f" at {args[0]:#x}" if kind in ("tlb_miss", "protection", "address_error") else ""
            self._kill_current(env, f"unhandled {kind} exception{detail}: no handler registered")
        if env.exc_depth >= param.MAX_EXC_NEST:
            self._kill_current(env, f"exceptions nested {env.exc_depth} deep in its handlers ({kind})")
        loop = self.loop
        loop.now += self._c_exc_dispatch
        if self._touch is not None:
            self._touch(self.fp.exc, self.fp.env(env.id))
        env.save_area[:3] = self.cpu.regs[:3]  # the three scratch registers the kernel clobbers
        env.exc_depth += 1
        start = loop.now
        try:
            return h(*args)  # type: ignore[misc]
        finally:
            env.exc_depth -= 1
            loop.now += self._c_exc_return
            if self.tracer is not None:
                self.tracer.span(kind, "exception", env.id, start, loop.now)

    def _upcall(self, env: Environment, kind: str, fn: Callable[..., Any], *args: Any) -> Any:
        loop = self.loop
        loop.now += self.c.upcall
        if self._touch is not None:
            self._touch(self.fp.upcall, self.fp.env(env.id))
        self.cpu.save_registers(env.save_area, 3)
        self.upcalls += 1
        env.upcalls += 1
        start = loop.now
        try:
            return fn(*args)
        finally:
            loop.now += self.c.exc_return
            if self.tracer is not None:
                self.tracer.span(kind, "upcall", env.id, start, loop.now)

    def _kill_current(self, env: Environment, why: str) -> None:
        self.deaths[env.id] = why
        env.dying = True
        raise EnvironmentKilled(env.id)

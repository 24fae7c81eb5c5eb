"""Aegis' system calls: the whole interface of the kernel, and every argument check.

What this models
    The system-call table of Aegis (Engler et al., table 2 and section 5).
    A library OS reaches the kernel only through these methods, and the
    hardware only through ``cpu`` (load, store, add, compute) and the TLB
    entries the kernel has installed for it.

Why it is built this way
    One choke point per protection boundary: every call checks *all* of its
    arguments before it changes anything, so a bad argument raises an
    :class:`~exospin.aegis.errors.AegisError` naming the argument and leaves
    the kernel exactly as it was (the clock still advances: the trap
    happened). The calling environment is always the kernel's ``current``:
    no call takes "who am I" as an argument, so no environment can act as
    another.

    Each call charges its path once, here, composed from hardware
    primitives in ``core.Costs``. The kernel it acts on is typed as its top
    layer (``lifecycle.Lifecycle``), which ``kernel.Aegis`` completes, so that
    kernel.py may import this module without an import circle.

Interface (the caller is always the current environment)
    identity       env_id(), null()
    frames         frame_alloc(pfn), frame_free(cap), frame_reserve(cap),
                   frame_transfer(cap, env_id), free_frames(n=None), cap_derive(cap, rights)
    bindings       tlb_write(vaddr, cap, writable), tlb_unmap(vaddr),
                   guarantee(vaddr, cap, writable)
    exceptions     set_handler(kind, fn), trap(number, *args), set_context(greenlet)
    processor      free_slices(), slice_alloc(position, env=None), slice_free(cap),
                   yield_(env_id=None)
    control        pct_register(entry, fn), pct_sync(env_id, entry, *args),
                   pct_async(env_id, entry, *args)
    environments   env_create(main, name), env_destroy(cap), exit(status),
                   repossession_vector()
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import compress, islice
from operator import not_
from typing import Any

from greenlet import greenlet

from ..machine import CPU, USER_TOP
from . import param
from .caps import Capability, Rights
from .env import HANDLER_KINDS, Environment
from .errors import (
    AegisError,
    BadAddress,
    BadArgument,
    BadCapability,
    BadEntry,
    BadEnvironment,
    BadFrame,
    BadSlice,
    EnvironmentKilled,
    ResourceExhausted,
)
from .lifecycle import Lifecycle
from .messages import FAIL, PCT, RESUME_DONATED, RET
from .stlb import stlb_index


class CalleeDied(AegisError):
    """The environment called by ``pct_sync`` died before it replied."""


class Syscalls:
    """The system-call surface. One instance per kernel; the caller is ``current``."""

    def __init__(self, kernel: Lifecycle) -> None:
        self._k = kernel
        #: The processor's user-mode instructions (load, store, add, compute, cycles).
        self.cpu: CPU = kernel.cpu
        #: Bytes per page and per word of this machine (library OSes need the geometry).
        self.page_size: int = kernel.m.profile.page_size
        self.word_bytes: int = kernel.m.profile.word_bytes
        self.nframes: int = kernel.m.profile.memory_frames
        self.nslices: int = param.NSLICES
        self.clock_hz: int = kernel.m.profile.clock_hz
        self._c_sys = kernel.c.syscall
        # the exposed free-frame bitmap (free_frames): frames per word; load and test a
        # word; test and shift out one frame's bit
        p = kernel.m.profile
        self._bitmap_word = 8 * p.word_bytes
        self._c_bitmap_word, self._c_bitmap_bit = p.mem_ref + p.insn, 2 * p.insn
        # What tlb_write and yield_ read on every call (each STLB-miss upcall ends in a
        # tlb_write), kept here so that they do not walk the kernel's attributes each
        # time: objects and constants of the kernel's life.
        self._c_tlb_write = kernel.c.syscall + kernel.c.tlb_write
        self._c_yield = kernel.c.yield_
        self._loop = kernel.loop
        self._tlb = kernel.tlb
        self._stlb = kernel.stlb
        self._live = kernel.caps.live
        self._frame_bindings = kernel.frame_bindings
        self._page_shift = kernel.page_shift
        self._words_per_frame = kernel.words_per_frame
        # ``detailed`` memory: the paths' cache lines (core.Footprints); None under ideal
        self._touch = kernel._touch
        self._fp = kernel.fp

    # ------------------------------------------------------------ checks

    def _boundary(self) -> None:
        """Return to user mode: take a pending interrupt (a slice that ended meanwhile)."""
        loop = self._k.loop
        if loop.now >= loop.deadline:
            loop.fire_due()

    def _cap(self, call: str, cap: Any, kind: str, need: Rights) -> Capability:
        k = self._k
        if type(cap) is not Capability:  # exactly: a subclass could fake __eq__/__hash__
            raise BadCapability(f"{call}: expected a capability, got {type(cap).__name__}")
        rec = k.caps.live.get(cap)
        if rec is None:
            raise BadCapability(
                f"{call}: capability {cap!r} is not live (forged, or its resource was freed or repossessed)"
            )
        if rec != (cap._kind, cap._resource, cap._rights):
            raise BadCapability(f"{call}: capability {cap!r} was altered after the kernel made it")
        if cap.kind != kind:
            raise BadCapability(f"{call}: capability is for a {cap.kind}, not a {kind}")
        lacking = int(need) & ~cap._rights
        if lacking:
            missing = Rights(lacking)
            raise BadCapability(f"{call}: capability for {kind} {cap.resource} lacks {missing.name}")
        return cap

    def _page(self, call: str, vaddr: Any) -> int:
        if type(vaddr) is not int:
            raise BadAddress(f"{call}: virtual address must be an int, not {type(vaddr).__name__}")
        if not 0 <= vaddr < USER_TOP:
            raise BadAddress(f"{call}: virtual address {vaddr:#x} is outside the user segment [0, {USER_TOP:#x})")
        if vaddr & (self.page_size - 1):
            raise BadAddress(f"{call}: virtual address {vaddr:#x} is not aligned to a {self.page_size}-byte page")
        return vaddr

    def _pfn(self, call: str, pfn: Any) -> int:
        if type(pfn) is not int:
            raise BadFrame(f"{call}: frame number must be an int, not {type(pfn).__name__}")
        if not 0 <= pfn < self.nframes:
            raise BadFrame(f"{call}: frame {pfn} is out of range (0..{self.nframes - 1})")
        return pfn

    def _env(self, call: str, env_id: Any) -> Environment:
        env = self._k.envs.get(env_id) if type(env_id) is int else None
        if env is None or env.dying:
            raise BadEnvironment(f"{call}: no environment {env_id!r}")
        return env

    def _entry(self, call: str, env: Environment, entry: Any) -> Callable[..., Any]:
        if type(entry) is not int or not 0 <= entry < param.MAX_ENTRIES:
            raise BadEntry(f"{call}: entry point must be an int in 0..{param.MAX_ENTRIES - 1}, not {entry!r}")
        fn = env.entries[entry]
        if fn is None:
            raise BadEntry(f"{call}: env {env.id} has not registered entry point {entry}")
        return fn

    # ---------------------------------------------------------- identity

    def env_id(self) -> int:
        """The calling environment's id (read from a kernel page; no trap)."""
        return self._k.current.id  # type: ignore[union-attr]

    def null(self) -> None:
        """The null system call: trap, dispatch, return."""
        loop = self._k.loop
        loop.now += self._c_sys
        if self._touch is not None:
            self._touch(self._fp.syscall, 0)
        if loop.now >= loop.deadline:
            loop.fire_due()

    # ------------------------------------------------------------ frames

    def free_frames(self, n: int | None = None) -> list[int]:
        """The lowest ``n`` free frames (every free frame if ``n`` is None), in order.

        Aegis exposes its bookkeeping (section 3.2, "expose names", "expose
        allocation"): which frames are free is a bitmap the kernel keeps in memory
        that every environment may read, so that the library OS picks frames by name.
        This is that read, done by the library OS, not a system call: it pays for the
        words of the bitmap it loads and tests, up to the last frame it takes, and for
        extracting each frame's bit (a test and a shift).
        """
        if n is not None and (type(n) is not int or n < 1):
            raise BadArgument(f"free_frames: n must be a positive int or None, not {n!r}")
        k = self._k
        owner = k.frame_owner
        free = compress(range(len(owner)), map(not_, owner))  # owner 0: free
        out = list(free) if n is None else list(islice(free, n))
        # the words read: all of them, unless n frames were found before the end
        last = out[-1] if n is not None and len(out) == n else len(owner) - 1
        k.loop.now += (last // self._bitmap_word + 1) * self._c_bitmap_word + len(out) * self._c_bitmap_bit
        return out

    def frame_alloc(self, pfn: int) -> Capability:
        """Allocate physical frame ``pfn`` (by name); returns a capability with all rights."""
        k = self._k
        k.loop.now += k.c.frame_alloc
        self._pfn("frame_alloc", pfn)
        owner = k.frame_owner[pfn]
        if owner:
            who = "you" if owner == k.current.id else "the kernel" if owner < 0 else f"env {owner}"  # type: ignore[union-attr]
            raise BadFrame(f"frame_alloc: frame {pfn} is owned by {who}")
        me = k.current
        assert me is not None
        k.frame_owner[pfn] = me.id
        me.frames.append(pfn)
        k.loop.now += k.c.frame_zero
        k.memory.zero(pfn)
        cap = k.caps.mint("frame", pfn, Rights.ALL)
        self._boundary()
        return cap

    def frame_free(self, cap: Capability) -> None:
        """Free the frame named by ``cap`` (needs OWNER); every binding of it is broken."""
        k = self._k
        k.loop.now += k.c.frame_free
        self._cap("frame_free", cap, "frame", Rights.OWNER)
        owner = k.envs.get(k.frame_owner[cap.resource])
        k._release_frame(cap.resource)
        if owner is not None:
            k._check_revocation_satisfied(owner)
        self._boundary()

    def frame_transfer(self, cap: Capability, env_id: int) -> None:
        """Give the frame ``cap`` names (OWNER) to environment ``env_id``.

        Ownership moves; capabilities and bindings stay valid. A library OS
        uses it to hand a frame it shares (copy-on-write, shared memory) to a
        process still using it before it lets go of it.
        """
        k = self._k
        k.loop.now += k.c.syscall + k.c.cap_check + 2 * k.m.profile.mem_ref
        self._cap("frame_transfer", cap, "frame", Rights.OWNER)
        target = self._env("frame_transfer", env_id)
        pfn = cap.resource
        old = k.envs.get(k.frame_owner[pfn])
        if old is target:
            return
        if old is not None:
            old.frames.remove(pfn)
            old.reserved.discard(pfn)
            k._check_revocation_satisfied(old)
        k.frame_owner[pfn] = target.id
        target.frames.append(pfn)

    def frame_reserve(self, cap: Capability) -> None:
        """Put a frame you own in your protected reserve: revocation never takes it."""
        k = self._k
        k.loop.now += k.c.syscall + k.c.cap_check
        self._cap("frame_reserve", cap, "frame", Rights.OWNER)
        me = k.current
        assert me is not None
        if k.frame_owner[cap.resource] != me.id:
            raise BadFrame(f"frame_reserve: frame {cap.resource} is not yours")
        if cap.resource not in me.reserved and len(me.reserved) >= param.RESERVE_FRAMES:
            raise ResourceExhausted(f"frame_reserve: your reserve is full ({param.RESERVE_FRAMES} frames)")
        me.reserved.add(cap.resource)

    def cap_derive(self, cap: Capability, rights: Rights) -> Capability:
        """A new capability for the same resource with ``rights``, a subset of ``cap``'s."""
        k = self._k
        k.loop.now += k.c.syscall + k.c.cap_check + k.c.cap_check
        if not isinstance(rights, int) or isinstance(rights, bool) or rights & ~int(Rights.ALL) or not rights:
            raise BadArgument(f"cap_derive: rights must be a non-empty combination of Rights, not {rights!r}")
        if not isinstance(cap, Capability):
            raise BadCapability(f"cap_derive: expected a capability, got {type(cap).__name__}")
        self._cap("cap_derive", cap, cap.kind, Rights(rights))
        derived = k.caps.mint(cap.kind, cap.resource, Rights(rights))
        self._boundary()
        return derived

    # ---------------------------------------------------------- bindings

    def tlb_write(self, vaddr: int, cap: Capability, writable: bool = False) -> None:
        """Secure binding: map page ``vaddr`` to ``cap``'s frame in the TLB and STLB.

        Authority is checked here, once: the capability must be live, for a
        frame, with READ (and WRITE if ``writable``). Afterwards the MMU
        alone checks each access.
        """
        loop = self._loop
        loop.now += self._c_tlb_write
        if type(vaddr) is not int or vaddr & (self.page_size - 1) or not 0 <= vaddr < USER_TOP:
            self._page("tlb_write", vaddr)
        if type(writable) is not bool:
            raise BadArgument(f"tlb_write: writable must be a bool, not {type(writable).__name__}")
        rec = self._live.get(cap) if type(cap) is Capability else None
        if rec is None or rec[0] != "frame" or rec[1] != cap._resource or rec[2] != cap._rights or not (
            rec[2] & (3 if writable else 1) == (3 if writable else 1)
        ):
            self._cap("tlb_write", cap, "frame", Rights.READ | Rights.WRITE if writable else Rights.READ)
        pfn = cap._resource
        tlb = self._tlb
        key = (vaddr >> self._page_shift) << 8 | tlb.asid
        entry = (pfn * self._words_per_frame, writable, pfn)
        tlb.write_random(key, entry, loop.now)
        self._stlb.insert(key, entry)
        if self._touch is not None:
            self._touch(self._fp.tlb_write, self._fp.stlb_slot(stlb_index(key >> 8, key & 0xFF, self._stlb.mask)))
        bound = self._frame_bindings[pfn]
        if writable or key not in bound:  # keep the record that authorised a writable binding
            bound[key] = cap
        if loop.now >= loop.deadline:
            loop.fire_due()

    def tlb_unmap(self, vaddr: int) -> None:
        """Remove your binding for page ``vaddr`` from the TLB, the STLB and guaranteed mappings."""
        k = self._k
        k.loop.now += k.c.syscall + k.c.unbind
        self._page("tlb_unmap", vaddr)
        me = k.current
        assert me is not None
        key = (vaddr >> k.page_shift) << 8 | me.asid
        k.tlb.invalidate(key)
        k.stlb.remove(key)
        me.guaranteed.pop(key, None)
        self._boundary()

    def guarantee(self, vaddr: int, cap: Capability, writable: bool = False) -> None:
        """Add a guaranteed mapping to your addressing context (kept for your handlers)."""
        k = self._k
        k.loop.now += k.c.syscall + k.c.tlb_write
        self._page("guarantee", vaddr)
        if type(writable) is not bool:
            raise BadArgument(f"guarantee: writable must be a bool, not {type(writable).__name__}")
        self._cap("guarantee", cap, "frame", Rights.READ | Rights.WRITE if writable else Rights.READ)
        me = k.current
        assert me is not None
        key = (vaddr >> k.page_shift) << 8 | me.asid
        if key not in me.guaranteed and len(me.guaranteed) >= param.MAX_GUARANTEED:
            raise ResourceExhausted(f"guarantee: addressing context is full ({param.MAX_GUARANTEED} mappings)")
        pfn = cap.resource
        entry = (pfn * k.words_per_frame, writable, pfn)
        k.tlb.invalidate(key)  # an older binding of the page must not win over the guarantee
        k.stlb.remove(key)
        me.guaranteed[key] = entry
        bound = k.frame_bindings[pfn]
        if writable or key not in bound:  # keep the record that authorised a writable binding
            bound[key] = cap

    # -------------------------------------------------------- exceptions

    def set_handler(self, kind: str, fn: Callable[..., Any] | None) -> None:
        """Install (or, with None, remove) your handler for ``kind``; see HANDLER_KINDS."""
        k = self._k
        k.loop.now += k.c.syscall + k.m.profile.mem_ref
        if type(kind) is not str or kind not in HANDLER_KINDS:
            raise BadArgument(f"set_handler: unknown handler kind {kind!r} (known: {', '.join(HANDLER_KINDS)})")
        if fn is not None and not callable(fn):
            raise BadArgument(f"set_handler: handler for {kind!r} must be callable, not {type(fn).__name__}")
        me = k.current
        assert me is not None
        if fn is None:
            me.handlers.pop(kind, None)
        else:
            me.handlers[kind] = fn

    def set_context(self, context: Any) -> None:
        """Resume the calling environment in ``context`` from now on: one of its own
        greenlets (its first, or one it created from it). A library OS that runs
        threads calls this when it switches between them; the kernel saves no
        context of its own (no trap: it is a store into the environment's record)."""
        me = self._k.current
        assert me is not None
        if type(context) is not greenlet or context.dead or (
            context is not me.base and context.parent is not me.base
        ):
            raise BadArgument("set_context: context must be a live greenlet of the calling environment "
                              "(its first one, or one whose parent that is)")
        me.g = context

    def trap(self, number: int, *args: Any) -> Any:
        """A system call Aegis does not implement: reflected to your ``syscall`` handler.

        This is how a library OS emulates another kernel's system calls.
        """
        k = self._k
        k.loop.now += k.c.syscall
        if type(number) is not int or number < 0:
            raise BadArgument(f"trap: system-call number must be a non-negative int, not {number!r}")
        me = k.current
        assert me is not None
        if "syscall" not in me.handlers:
            raise BadArgument(f"trap: no system call {number}, and you registered no syscall handler")
        k.loop.now -= k.c.syscall - k.m.profile.trap_entry  # the dispatch below charges the rest
        return k._dispatch(me, "syscall", number, args)

    # --------------------------------------------------------- processor

    def free_slices(self) -> list[int]:
        """The positions of the time-slice vector nobody owns (exposed, like free_frames)."""
        k = self._k
        k.loop.now += self._c_sys
        return [i for i, o in enumerate(k.slices) if o is None]

    def slice_alloc(self, position: int, env: Capability | None = None) -> Capability:
        """Allocate time slice ``position`` for yourself, or for the environment ``env`` names."""
        k = self._k
        k.loop.now += k.c.syscall + 2 * k.m.profile.mem_ref
        if type(position) is not int or not 0 <= position < param.NSLICES:
            raise BadSlice(f"slice_alloc: position must be an int in 0..{param.NSLICES - 1}, not {position!r}")
        target = k.current
        if env is not None:
            c = self._cap("slice_alloc", env, "env", Rights.OWNER)
            target = self._env("slice_alloc", c.resource)
        owner = k.slices[position]
        if owner is not None:
            raise BadSlice(f"slice_alloc: slice {position} is owned by env {owner.id}")
        assert target is not None
        target.slices.append(position)
        k.loop.now += k._set_slice(position, target) * k.c.relink  # the successor links
        return k.caps.mint("slice", position, Rights.ALL)

    def slice_free(self, cap: Capability) -> None:
        """Give up the time slice ``cap`` names."""
        k = self._k
        k.loop.now += k.c.syscall + k.c.cap_check + k.m.profile.mem_ref
        self._cap("slice_free", cap, "slice", Rights.OWNER)
        pos = cap.resource
        owner = k.slices[pos]
        if owner is not None:
            owner.slices.remove(pos)
        k.loop.now += k._set_slice(pos, None) * k.c.relink  # the successor links
        k.caps.revoke_all("slice", pos)

    def yield_(self, env_id: int | None = None) -> None:
        """Give up the rest of your slice: to ``env_id`` (directed yield), or to the next slice."""
        k = self._k
        loop = self._loop
        if loop.now >= loop.deadline:  # the trap is a boundary: take pending interrupts first
            loop.fire_due()
        loop.now += self._c_yield
        me = k.current
        assert me is not None
        if self._touch is not None:
            self._touch(self._fp.yield_, self._fp.env(me.id if env_id is None or type(env_id) is not int else env_id))
        if env_id is None:
            k.n_yields += 1
            k.m.timer.cancel()
            k._switch_to_next_slice()
            return
        # _env() and Aegis._effective() written out, two Python calls less: a directed
        # yield is the ping-pong of every server loop (the yield and pct_async
        # benchmarks). A bad env_id still goes to _env(), which raises naming it.
        target = k.envs.get(env_id) if type(env_id) is int else None
        if target is None or target.dying:
            target = self._env("yield_", env_id)
        k.n_yields += 1
        while target.donated_to is not None:  # who runs in target's time (_effective)
            target = target.donated_to
        if target is me:
            return
        k._transfer(target, RESUME_DONATED)

    # ------------------------------------------------- control transfer

    def pct_register(self, entry: int, fn: Callable[..., Any] | None) -> None:
        """Register (or with None, remove) protected entry point ``entry``."""
        k = self._k
        k.loop.now += k.c.syscall + k.m.profile.mem_ref
        if type(entry) is not int or not 0 <= entry < param.MAX_ENTRIES:
            raise BadEntry(f"pct_register: entry point must be an int in 0..{param.MAX_ENTRIES - 1}, not {entry!r}")
        if fn is not None and not callable(fn):
            raise BadArgument(f"pct_register: entry {entry} must be callable, not {type(fn).__name__}")
        me = k.current
        assert me is not None
        me.entries[entry] = fn

    def pct_sync(self, env_id: int, entry: int, *args: Any) -> Any:
        """Synchronous protected control transfer: run ``env_id``'s entry, donating your
        slices until it replies; its return value is the reply. Arguments travel in
        registers: the kernel does not touch them."""
        k = self._k
        loop = k.loop
        if loop.now >= loop.deadline:  # the trap is a boundary: take pending interrupts first
            loop.fire_due()
        loop.now += k._c_pct
        if self._touch is not None:
            self._touch(self._fp.pct, self._fp.env(env_id if type(env_id) is int else 0))
        callee = k.envs.get(env_id) if type(env_id) is int else None
        me = k.current
        if callee is None or callee.dying or callee is me:
            if callee is me:
                raise BadEnvironment("pct_sync: an environment cannot call itself")
            raise BadEnvironment(f"pct_sync: no environment {env_id!r}")
        fn = callee.entries[entry] if type(entry) is int and 0 <= entry < param.MAX_ENTRIES else None
        if fn is None:
            self._entry("pct_sync", callee, entry)
        assert me is not None
        if callee.donated_to is not None and k._effective(callee) is not me:
            raise BadEnvironment(f"pct_sync: env {callee.id} is blocked in a synchronous call of its own")
        k.n_pct_sync += 1
        me.donated_to = callee
        msg = k._transfer(callee, (PCT, me, fn, args, True))
        while True:
            tag = msg[0]
            if tag is RET:
                me.donated_to = None
                return msg[1]
            failure = msg[1] if tag is FAIL else me.pct_failure
            if failure is not None:
                me.donated_to = None
                me.pct_failure = None
                raise CalleeDied(f"pct_sync: {failure}")
            # resumed while still waiting: whoever runs for us gets the processor
            msg = k._transfer(k._effective(callee), RESUME_DONATED)

    def pct_async(self, env_id: int, entry: int, *args: Any) -> None:
        """Asynchronous protected control transfer: run ``env_id``'s entry for the rest
        of your slice; you continue at your next slice."""
        k = self._k
        loop = self._loop
        if loop.now >= loop.deadline:  # the trap is a boundary: take pending interrupts first
            loop.fire_due()
        loop.now += k._c_pct
        if self._touch is not None:
            self._touch(self._fp.pct, self._fp.env(env_id if type(env_id) is int else 0))
        # _env() and _entry() written out, as in pct_sync; a bad argument still goes
        # to them, which raise naming it
        callee = k.envs.get(env_id) if type(env_id) is int else None
        if callee is None or callee.dying:
            callee = self._env("pct_async", env_id)
        me = k.current
        if callee is me:
            raise BadEnvironment("pct_async: an environment cannot call itself")
        fn = callee.entries[entry] if type(entry) is int and 0 <= entry < param.MAX_ENTRIES else None
        if fn is None:
            fn = self._entry("pct_async", callee, entry)
        if callee.donated_to is not None and k._effective(callee) is not me:
            raise BadEnvironment(f"pct_async: env {callee.id} is blocked in a synchronous call of its own")
        k.n_pct_async += 1
        k._transfer(callee, (PCT, me, fn, args, False))

    # ------------------------------------------------------ environments

    def env_create(self, main: Callable[..., Any], name: str = "") -> tuple[int, Capability]:
        """Create an environment (with no slices: give it some with slice_alloc).

        Returns its id and a capability with OWNER rights over it.
        """
        k = self._k
        k.loop.now += k.c.syscall + 4 * k.m.profile.mem_ref
        if not callable(main):
            raise BadArgument(f"env_create: main must be callable, not {type(main).__name__}")
        if not isinstance(name, str):
            raise BadArgument(f"env_create: name must be a str, not {type(name).__name__}")
        eid = k.create_env(main, name, slices=0)
        return eid, k.caps.mint("env", eid, Rights.ALL)

    def env_destroy(self, cap: Capability) -> None:
        """Destroy the environment ``cap`` names (OWNER) and reclaim all it holds."""
        k = self._k
        k.loop.now += k.c.syscall + k.c.cap_check
        self._cap("env_destroy", cap, "env", Rights.OWNER)
        env = self._env("env_destroy", cap.resource)
        k.destroy(env.id, f"destroyed by env {k.current.id}")  # type: ignore[union-attr]

    def exit(self, status: int | str = 0) -> None:
        """End the calling environment (``status``: a number, or a message saying why);
        all its resources return to the kernel."""
        k = self._k
        me = k.current
        assert me is not None
        me.exit_status = status
        k.deaths[me.id] = f"exited: {status}" if isinstance(status, str) else f"exited with status {status!r}"
        me.dying = True
        raise EnvironmentKilled(me.id)

    def repossession_vector(self) -> list[int]:
        """Frames the abort protocol took from you since you last asked (then cleared)."""
        k = self._k
        k.loop.now += k.c.syscall
        me = k.current
        assert me is not None
        v = list(me.repossession_vector)
        me.repossession_vector.clear()
        return v

"""Environments and their lifecycle: created, run, destroyed, reaped.

What this models
    Engler et al., section 5 (processor environments): an environment is
    Aegis' unit of accounting and of execution (its record is env.py). Here
    the kernel creates one (an address-space identifier, a greenlet, its time
    slices), runs environments until none can run, and ends them, whether
    they return, raise, exit, are killed or destroyed: every frame, slice,
    binding and capability goes back, the ASID is retired, and an environment
    blocked in a protected call to the dead one gets an error and the
    processor.

Why it is built this way
    ``run`` is the root greenlet's loop over the slice vector; with
    ``_transfer`` (slices.py) it is the only code that switches environments.
    An environment's greenlet that ends returns to the root, which reaps it
    (``_reap``) and wakes whom ``_free_env`` named. ASIDs come from a heap of
    free ones; those of destroyed environments are scrubbed from the software
    TLB all at once when the free ones run out (``_scrub_stlb``), as MIPS
    kernels recycle ASIDs by generation. An environment's accounting is kept
    after it ends (``final_stats``).

Interface
    ``create_env(main, name, slices)``; ``run(until)``; ``destroy(env_id,
    reason)``; ``env_statistics(env_id)``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

from greenlet import getcurrent, greenlet

from . import param
from .core import EnvStats
from .env import Environment
from .errors import AegisError, BadEnvironment, EnvironmentKilled, ResourceExhausted
from .messages import FAIL, RESUME_SLICE, STOP
from .slices import Slices


class Lifecycle(Slices):
    """Environments created, run and ended (see the module note)."""

    __slots__ = ()

    def create_env(
        self, main: Callable[..., Any], name: str = "", slices: int | list[int] = 1
    ) -> int:
        """Create an environment running ``main(syscalls)`` and give it time slices.

        ``slices`` is a count (the lowest free positions) or a list of positions.
        Returns the environment id.
        """
        if not callable(main):
            raise AegisError(f"main must be callable, not {type(main).__name__}")
        if len(self.envs) >= param.MAX_ENVS:
            raise ResourceExhausted(f"no environment left: {param.MAX_ENVS} exist")
        positions = self._pick_slices(slices)
        eid = self._next_id
        self._next_id += 1
        asid = self._alloc_asid()
        env = Environment(eid, name or f"env{eid}", asid, main, None)  # type: ignore[arg-type]
        env.g = env.base = greenlet(run=self._env_body, parent=self._root)
        env.tlb_view = self.tlb.view_of(asid)
        self.envs[eid] = env
        self.by_asid[asid] = env
        for pos in positions:
            self._give_slice(env, pos)
        self.envs_created += 1
        if self.tracer is not None:
            self.tracer.track(eid, f"env {eid}: {env.name}")
        self.note(env, "create", f"env {eid} ({env.name}) created with slices {positions}")
        return eid

    def _alloc_asid(self) -> int:
        """The lowest ASID no environment holds and no STLB slot names, from the heap of
        free ones; when it is empty, the ASIDs of destroyed environments are scrubbed
        from the STLB first, all in one walk."""
        if not self.free_asids and self.dirty_asids:
            self._scrub_stlb()
        if not self.free_asids:
            raise ResourceExhausted("no address-space identifier left")
        return heapq.heappop(self.free_asids)

    def _scrub_stlb(self) -> None:
        """Clear every STLB slot of every ASID freed since the last scrub, in one walk of
        the STLB (charged per slot), and make those ASIDs free again.

        A destroyed environment's bindings of its own frames went with the frames
        (``_unbind_frame``); what may be left are its bindings of frames others still
        own, which no one can use while its ASID is not handed out again. Walking the
        4,096-slot table at every destruction would cost more than most environments'
        lives (about 340 µs on the ds5000); a walk when the free ASIDs run out serves up
        to 63 destructions at once, as MIPS kernels recycle ASIDs by generation."""
        c = self.c
        n = self.stlb.flush_asids(self.dirty_asids)
        self.loop.now += self.stlb.entries * c.stlb_scrub_slot + n * c.stlb_scrub_hit
        for asid in self.dirty_asids:
            heapq.heappush(self.free_asids, asid)
        self.dirty_asids.clear()
        self.stlb_scrubs += 1

    # ----------------------------------------------------------- running

    def run(self, until: int | None = None) -> int:
        """Run environments until none can run (or the clock reaches ``until``).

        Returns the clock. May be called again to continue.
        """
        if getcurrent() is not self._root:
            raise RuntimeError("Aegis.run() must be called from the greenlet that created the kernel")
        stop_ev = self.loop.schedule(until, self._stop) if until is not None else None
        try:
            while True:
                nxt = self._next_slice()
                if nxt is None:
                    if self._idle_alone(until):
                        continue
                    break
                env, q = nxt
                self.m.timer.arm(q)
                msg: Any = RESUME_SLICE
                while True:
                    if self._enter(env, msg) is STOP:
                        if self._idle_alone(until):
                            break  # a sleeper woke: the slice vector again
                        return self.loop.now
                    # An environment's greenlet ended (returned or raised) and
                    # control came back here; _reaped says whom to wake.
                    wake = self._wake
                    self._wake = None
                    if wake is None:
                        break
                    env, msg = wake
        finally:
            if stop_ev is not None:
                stop_ev.cancel()
        self.m.timer.cancel()
        self._close_run()
        return self.loop.now

    def _idle_alone(self, until: int | None) -> bool:
        """Every environment that owns a slice sleeps (netcalls.sleep): on a machine of its
        own, idle to the next event (a time-out, an interrupt) and say whether one fired.
        In a world the world does it (machine/world.py), so this is False there."""
        if self.m.world is not None or (until is not None and self.loop.now >= until):
            return False
        if not any(e.asleep for e in self.envs.values()):
            return False
        return self.loop.skip_to_next()

    def _enter(self, env: Environment, msg: Any) -> Any:
        """From the root greenlet: run ``env``; return when control comes back to the root."""
        self._switch_bookkeeping(env)
        try:
            result = env.g.switch(msg)
        except EnvironmentKilled:
            self._reap(self.current, None)
            return None
        except Exception as exc:  # a library OS or application raised: it dies, we go on
            self._reap(self.current, exc)
            return None
        if result is STOP:
            return STOP
        # the greenlet returned normally: the environment exited
        self._reap(self.current, None, exited=result)
        return None

    def _stop(self) -> None:
        self.note(None, "stop", "run limit reached")
        if self.current is not None:
            self._transfer(None, STOP)

    # --------------------------------------------------------- destruction

    def destroy(self, eid: int, reason: str = "destroyed") -> None:
        """Destroy environment ``eid`` and return every resource it held."""
        env = self.env_by_id(eid)
        if env is self.current:
            self.deaths[eid] = reason
            env.dying = True
            raise EnvironmentKilled(eid)
        self.deaths.setdefault(eid, reason)
        env.dying = True
        base = env.base
        if base is not None and base and not base.dead:  # started and parked: unwind it now
            base.parent = getcurrent()  # the unwinding ends here, not in the root
            saved = self.current
            self.current = env
            while not base.dead:
                g = env.g if not env.g.dead else base
                try:
                    g.throw(EnvironmentKilled(eid))
                except EnvironmentKilled:
                    pass
            self.current = saved
            if saved is not None:
                self._set_asid(saved.asid)
        self._free_env(env)

    def _reap(self, env: Environment | None, exc: BaseException | None, exited: Any = None) -> None:
        """An environment's greenlet ended: free it and wake anyone waiting on it."""
        assert env is not None
        if exc is not None:
            self.deaths.setdefault(env.id, f"died: {type(exc).__name__}: {exc}")
        elif not env.dying:
            env.exit_status = exited
            self.deaths.setdefault(env.id, "exited" if exited is None else f"exited with status {exited!r}")
        self._free_env(env)

    def env_statistics(self, eid: int) -> EnvStats:
        """Accounting for environment ``eid``, live or ended."""
        env = self.envs.get(eid)
        if env is None:
            if eid in self.final_stats:
                return self.final_stats[eid]
            raise BadEnvironment(f"no environment {eid!r}")
        return EnvStats(
            env.id, env.name, len(env.frames), len(env.slices), env.slices_run, env.slices_lost,
            env.exceptions, env.upcalls, env.excess, env.strikes, env.repossessed_total,
            self.deaths.get(env.id, "running"), env.exit_status,
        )

    def _free_env(self, env: Environment) -> None:
        env.dying = True
        why = self.deaths.get(env.id, "destroyed")
        self.deaths.setdefault(env.id, why)
        self.final_stats[env.id] = self.env_statistics(env.id)
        for pfn in list(env.frames):
            self._release_frame(pfn)
        for pos in env.slices:
            self._set_slice(pos, None)
            self.caps.revoke_all("slice", pos)
        env.slices.clear()
        n_tlb = self.tlb.flush_asid(env.asid)
        self.loop.now += self.tlb.entries * self.c.tlb_flush_entry + n_tlb * self.c.tlb_flush_hit
        env.guaranteed.clear()
        env.entries = [None] * len(env.entries)
        env.handlers.clear()
        env.pending.clear()
        if self.net is not None:  # its packet filters, rings and handlers go with it
            self.net.forget(env)
        if self.xn is not None:  # its cached-block references, unattached blocks and mounts (xn.py)
            self.xn.forget(env)
        if env.sleep_event is not None:
            env.sleep_event.cancel()
            env.sleep_event = None
        if env.revoke_event is not None:
            env.revoke_event.cancel()
            env.revoke_event = None
        env.revoke_target = None
        self.caps.revoke_all("env", env.id)
        del self.envs[env.id]
        del self.by_asid[env.asid]
        self.dirty_asids.append(env.asid)  # scrubbed from the STLB before it is handed out again
        self.envs_destroyed += 1
        self.note(env, "destroy", f"env {env.id} ({env.name}) {why}; all its resources returned")
        # Anyone blocked in a synchronous PCT to it gets an error and the processor.
        for other in self.envs.values():
            if other.donated_to is env:
                other.donated_to = None
                if self.current is env and self._wake is None:  # run() wakes one; others see it at their next slice
                    self._wake = (other, (FAIL, f"env {env.id} died during the call: {why}"))
                else:
                    other.pct_failure = f"env {env.id} died during the call: {why}"
        if self.current is env:
            self.current = None

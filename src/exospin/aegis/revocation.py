"""Visible revocation and the abort protocol: asking for frames back, then taking them.

What this models
    Engler et al., section 3 (visible resource revocation, the abort
    protocol): the kernel does not take a resource silently; it asks the
    environment to give back a number of frames and lets it choose which
    (a ``revoke`` upcall). An environment that has not complied by a deadline
    loses frames by force: the kernel breaks their secure bindings, kills
    their capabilities, frees them, and records them in the environment's
    repossession vector, which the library OS reads to repair its structures
    (a ``repossessed`` upcall).

Why it is built this way
    The deadline is an event on the machine's loop, a few rotations of the
    slice vector away, so an environment has several of its slices to comply;
    compliance is checked at each of its slice ends (slices.py) and whenever
    it frees a frame (syscalls.py). Releasing a frame is written once here
    (``_release_frame``): the abort protocol, ``frame_free`` and the
    destruction of an environment all go through it, so a freed frame never
    keeps a binding or a capability (invariants I1-I3).

Interface
    ``revoke(env_id, nframes)``; to the other layers
    ``_check_revocation_satisfied(env)``, ``_deliver(env, kind, arg)``,
    ``_release_frame(pfn)``, ``_unbind_frame(pfn)``.
"""

from __future__ import annotations

from typing import Any

from . import param
from .env import Environment
from .errors import AegisError
from .exceptions import Exceptions


class Revocation(Exceptions):
    """Visible revocation, the abort protocol, frame release (see the module note)."""

    __slots__ = ()

    def revoke(self, eid: int, nframes: int) -> None:
        """Ask environment ``eid`` to give back ``nframes`` frames (visible revocation).

        The request is delivered as a ``revoke`` upcall at the start of its
        next slice. If by the deadline it still holds more than it may keep,
        the abort protocol repossesses the difference.
        """
        env = self.env_by_id(eid)
        if type(nframes) is not int or nframes < 1:
            raise AegisError(f"nframes must be a positive int, not {nframes!r}")
        if env.revoke_target is not None:
            raise AegisError(f"env {eid} already has a revocation outstanding")
        self.revocations += 1
        env.revoke_target = max(0, len(env.frames) - nframes)
        occupied = sum(1 for o in self.slices if o is not None)
        deadline = self.loop.now + param.REVOKE_ROTATIONS * max(1, occupied) * self.quantum
        env.revoke_event = self.loop.schedule(deadline, self._revoke_deadline, env)
        self.note(env, "revoke", f"kernel asks env {eid} to return {nframes} frame(s)")
        self._deliver(env, "revoke", nframes)

    def _check_revocation_satisfied(self, env: Environment) -> bool:
        t = env.revoke_target
        if t is not None and len(env.frames) <= t:
            env.revoke_target = None
            env.revoke_event.cancel()
            env.revoke_event = None
            self.revocations_complied += 1
            self.note(env, "complied", f"env {env.id} gave back the frames it was asked for")
            return True
        return False

    def _revoke_deadline(self, env: Environment) -> None:
        """The deadline passed: take the frames by force (the abort protocol)."""
        env.revoke_event = None
        if env.dying or env.id not in self.envs or env.revoke_target is None:
            return
        target = env.revoke_target
        env.revoke_target = None
        victims = [p for p in reversed(env.frames) if p not in env.reserved]
        victims = victims[: max(0, len(env.frames) - target)]
        for pfn in victims:
            self._release_frame(pfn)
        env.repossession_vector.extend(victims)
        env.repossessed_total += len(victims)
        self.aborts += 1
        self.frames_repossessed += len(victims)
        self.note(env, "abort", f"env {env.id} ignored revocation: repossessed frames {victims}")
        self._deliver(env, "repossessed", list(victims))

    def _deliver(self, env: Environment, kind: str, arg: Any) -> None:
        """An upcall for ``env``: now if it is running (we are at a boundary), else at its next slice."""
        if env is self.current:
            h = env.handlers.get(kind)
            if h is not None:
                self._upcall(env, kind, h, arg)
        else:
            env.pending.append((kind, arg))

    # --------------------------------------------------- frames, bindings

    def _release_frame(self, pfn: int) -> None:
        """Break every binding of ``pfn``, kill its capabilities, free it."""
        owner = self.envs.get(self.frame_owner[pfn])
        if owner is not None:
            owner.frames.remove(pfn)
            owner.reserved.discard(pfn)
        self._unbind_frame(pfn)
        self.caps.revoke_all("frame", pfn)
        self.frame_owner[pfn] = 0

    def _unbind_frame(self, pfn: int) -> None:
        b = self.frame_bindings[pfn]
        for key in b:
            self.loop.now += self.c.unbind
            e = self.tlb.probe(key)
            if e is not None and e[2] == pfn:
                self.tlb.invalidate(key)
            self.stlb.remove(key, pfn)
            env = self.by_asid.get(key & 0xFF)
            if env is not None:
                g = env.guaranteed.get(key)
                if g is not None and g[2] == pfn:
                    del env.guaranteed[key]
        b.clear()

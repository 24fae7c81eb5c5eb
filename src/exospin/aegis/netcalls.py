"""Aegis' network system calls: packet rings, packet filters, transmit, and sleep.

What this models
    The system-call side of netdrv.py (Engler et al., section 3.3: a packet
    filter is a secure binding; DPF, SIGCOMM 1996): an environment gives the
    kernel frames it owns for a packet ring, binds filters to the ring,
    sends frames from its own memory, and sleeps until a packet comes.

    ``sleep`` is the one addition to the processor's interface the network
    needs: an environment waiting for a packet gives up its slices until the
    kernel delivers a packet to one of its rings, another environment
    reaches it by protected control transfer (ExOS' wake-up), or the clock
    reaches the time-out it gave. Its slices pass meanwhile (the slice vector
    skips it, slices.py); when every environment sleeps, ``run`` returns and
    the machine is idle until an interrupt wakes one, so no processor spins
    waiting for the wire.

Why it is built this way
    A subclass of the system-call surface, so the calls every other
    environment makes are found exactly where they were. Each call checks
    all its arguments before it changes anything (capabilities through the
    same ``_cap``), and raises an :class:`AegisError` naming what was wrong;
    a refused filter is :class:`FilterRefused` with DPF's reason (which test,
    or whose filter it overlaps).

Interface (the caller is always the current environment)
    net_info() -> (mac, max_frame); ring_create(caps) -> ring;
    ring_destroy(ring); filter_install(ring, tests | tcpdump) -> [filter ids];
    filter_remove(fid); net_send(cap, offset, length); sleep(until=None);
    ash_install(ring, source, entry, budget, buffer) -> id; ash_remove(id);
    ash_removed(id) -> why | None; net_statistics().
"""

from __future__ import annotations

from typing import Any

from .caps import Capability, Rights
from .errors import BadArgument, BadEnvironment
from .netdrv import ASH_BUDGET, NetDriver, NetDriverStats
from .syscalls import Syscalls


class NetSyscalls(Syscalls):
    """Aegis' system calls with the network's (see the module note)."""

    def _net(self, call: str) -> NetDriver:
        net = self._k.net
        if net is None:
            if self._k.nic is None:
                raise BadEnvironment(f"{call}: this machine has no network interface")
            net = self._k.start_net()  # type: ignore[attr-defined]  # kernel.Aegis, the top layer
        return net  # type: ignore[no-any-return]

    def net_info(self) -> tuple[bytes, int]:
        """The interface's MAC address and the largest frame it sends (a kernel page read)."""
        net = self._net("net_info")
        self._k.loop.now += 2 * self._k.m.profile.mem_ref
        return net.nic.mac, net.nic.spec.max_frame

    def ring_create(self, caps: list[Capability]) -> int:
        """Make a packet ring of the frames ``caps`` name (yours, READ and WRITE); returns its id."""
        k = self._k
        k.loop.now += k.c.syscall
        net = self._net("ring_create")
        if isinstance(caps, list | tuple):
            for cap in caps:
                self._cap("ring_create", cap, "frame", Rights.READ | Rights.WRITE)
                k.loop.now += k.c.cap_check
        me = k.current
        assert me is not None
        return net.ring_create(me, list(caps) if isinstance(caps, list | tuple) else caps)

    def ring_destroy(self, ring: int) -> None:
        """Remove your packet ring ``ring`` and every filter bound to it; its frames stay yours."""
        k = self._k
        k.loop.now += k.c.syscall
        net = self._net("ring_destroy")
        me = k.current
        assert me is not None
        net.ring_destroy(net.ring(me, ring, "ring_destroy"))

    def filter_install(self, ring: int, spec: Any) -> list[int]:
        """Bind a packet filter to your ring ``ring``: a list of DPF tests (net.Atom, net.Shift)
        or a tcpdump expression (net.from_tcpdump). Checked once, here; refused
        (:class:`FilterRefused`) if malformed or if it overlaps another environment's
        filter. Returns the ids of the filters installed (all of them or none)."""
        k = self._k
        k.loop.now += k.c.syscall
        net = self._net("filter_install")
        me = k.current
        assert me is not None
        return net.filter_install(me, net.ring(me, ring, "filter_install"), spec)

    def filter_remove(self, fid: int) -> None:
        """Remove your packet filter ``fid``."""
        k = self._k
        k.loop.now += k.c.syscall
        net = self._net("filter_remove")
        me = k.current
        assert me is not None
        net.filter_remove(net.filter_of(me, fid))

    def net_send(self, cap: Capability, offset: int, length: int) -> None:
        """Send the ``length``-byte frame at ``offset`` in the frame ``cap`` names (yours, READ)."""
        k = self._k
        k.loop.now += k.c.syscall + k.c.cap_check
        net = self._net("net_send")
        self._cap("net_send", cap, "frame", Rights.READ)
        me = k.current
        assert me is not None
        net.send(me, cap, offset, length)
        self._boundary()

    def sleep(self, until: int | None = None) -> bool:
        """Give up the processor until a packet reaches one of your rings, a protected control
        transfer reaches you, or the clock reaches ``until`` (cycles). Returns at once if a
        packet came since you last slept. True if woken by a packet."""
        k = self._k
        loop = self._loop
        if loop.now >= loop.deadline:  # the trap is a boundary: take pending interrupts first
            loop.fire_due()
        loop.now += self._c_yield
        if until is not None and (type(until) is not int or until < 0):
            raise BadArgument(f"sleep: until must be a cycle count or None, not {until!r}")
        me = k.current
        assert me is not None
        if me.wake_pending:
            me.wake_pending = False
            return True
        if until is not None and until <= loop.now:
            return False
        me.asleep = True
        if until is not None:
            me.sleep_event = loop.schedule(until, _time_out, me)
        k.m.timer.cancel()
        try:
            k._switch_to_next_slice()
        finally:
            me.asleep = False
            if me.sleep_event is not None:
                me.sleep_event.cancel()
                me.sleep_event = None
        woken = me.wake_pending
        me.wake_pending = False
        return woken

    def ash_install(self, ring: int, source: str, entry: str = "handler", budget: int = ASH_BUDGET,
                    buffer: Capability | None = None) -> int:
        """Install an application-specific safe handler on your ring ``ring``: ``source`` is
        checked by the verifier (verifier/), and its function ``entry(pkt)`` runs in the
        kernel on every packet your filters send to the ring, under ``budget`` ticks per
        packet (netdrv.AshPacket says what it can do: reply, copy into ``buffer``, a frame of
        yours with WRITE, or pass the packet to the ring). A handler that runs out of budget
        or raises is removed, and you are told (the ``ash_removed`` handler). Returns its id."""
        k = self._k
        k.loop.now += k.c.syscall
        net = self._net("ash_install")
        me = k.current
        assert me is not None
        r = net.ring(me, ring, "ash_install")
        pfn = None
        if buffer is not None:
            pfn = self._cap("ash_install", buffer, "frame", Rights.READ | Rights.WRITE).resource
        return net.ash_install(me, r, source, entry, budget, pfn)

    def ash_remove(self, ash: int) -> None:
        """Remove your ASH ``ash``; your ring's packets go to the ring again."""
        k = self._k
        k.loop.now += k.c.syscall
        net = self._net("ash_remove")
        me = k.current
        assert me is not None
        a = net.ashes.get(ash) if type(ash) is int else None
        if a is None or a.owner != me.id:
            raise BadArgument(f"ash_remove: {ash!r} is not one of your handlers")
        net.ash_remove(a)

    def ash_removed(self, ash: int) -> str | None:
        """Why the kernel removed your ASH ``ash`` (None if it did not)."""
        return self._net("ash_removed").removed.get(ash)

    def net_statistics(self) -> NetDriverStats:
        """The driver's counters (a kernel page read)."""
        return self._net("net_statistics").statistics()


def _time_out(env: Any) -> None:
    env.sleep_event = None
    env.asleep = False

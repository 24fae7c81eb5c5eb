"""Aegis' NIC driver and DPF as secure bindings: rings, filters, transmit, sleep (aegis/netdrv.py).

Environments on two Aegis machines use the raw system calls (no library OS):
frames are written and read with the processor's own stores and loads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from exospin.aegis import AegisError, FilterRefused, NetSyscalls
from exospin.net import Atom, Shift, ipv4, udp_frame
from exospin.systems import Network, network

VA = 0x10000  # where an environment maps its frames


def udp_filter(ip: str, port: int) -> list[Any]:
    return [Atom(12, 2, 0xFFFF, 0x0800), Atom(23, 1, 0xFF, 17), Atom(30, 4, 0xFFFFFFFF, int.from_bytes(ipv4(ip), "big")),
            Atom(20, 2, 0x1FFF, 0), Shift(14, 1, 0x0F, 2), Atom(16, 2, 0xFFFF, port)]


class Env:
    """An environment's view of its own frames: map, store bytes, load bytes."""

    def __init__(self, sys: NetSyscalls, n: int) -> None:
        self.sys = sys
        free = sys.free_frames(n)
        self.caps = [sys.frame_alloc(p) for p in free]
        self.page = sys.page_size
        self.wb = sys.word_bytes
        for i, c in enumerate(self.caps):
            sys.tlb_write(VA + i * self.page, c, True)

    def put(self, i: int, data: bytes) -> None:
        base = VA + i * self.page
        wb = self.wb
        data = data + bytes(-len(data) % wb)
        for j in range(0, len(data), wb):
            self.sys.cpu.store(base + j, int.from_bytes(data[j : j + wb], "little"))

    def get(self, i: int, off: int, n: int) -> bytes:
        base = VA + i * self.page + off
        wb = self.wb
        out = bytearray()
        for j in range(0, n + -n % wb, wb):
            out += self.sys.cpu.load(base + j).to_bytes(wb, "little")
        return bytes(out[:n])

    def slot(self, i: int) -> bytes | None:
        """Ring slot ``i``: the frame in it, or None if free; frees it."""
        n = self.sys.cpu.load(VA + i * self.page)
        if not n:
            return None
        data = self.get(i, self.wb, n)
        self.sys.cpu.store(VA + i * self.page, 0)
        return data


@pytest.fixture
def net2() -> Iterator[Network]:
    net = network(["aegis", "aegis"])
    yield net
    for s in net.systems:
        assert s.kernel.check_invariants() == []
    held = net.shutdown()
    assert [h for h in held if any(h.values())] == []


def frame_to(net: Network, dst: int, port: int, payload: bytes, src_port: int = 5000) -> bytes:
    a, b = net.systems[1 - dst].iface, net.systems[dst].iface
    return udp_frame(a.mac, b.mac, ipv4(a.ip), ipv4(b.ip), src_port, port, payload)


def sender(frames: list[bytes], log: list[Any]) -> Callable[[NetSyscalls], None]:
    def main(sys: NetSyscalls) -> None:
        e = Env(sys, 1)
        sys.sleep(sys.cpu.cycles() + 100_000)  # the receiver sets up its ring meanwhile
        for f in frames:
            e.put(0, f)
            sys.net_send(e.caps[0], 0, len(f))
            log.append(("sent", len(f)))
            for _ in range(3):  # let the interface take it before the next one overwrites the frame
                sys.sleep(sys.cpu.cycles() + 20_000)
    return main


def receiver(port: int, slots: int, want: int, got: list[bytes], timeout: int = 2_000_000) -> Callable[[NetSyscalls], None]:
    def main(sys: NetSyscalls) -> None:
        e = Env(sys, slots)
        ring = sys.ring_create(e.caps)
        sys.filter_install(ring, udp_filter("10.0.0.1", port))
        i = 0
        deadline = sys.cpu.cycles() + timeout
        while len(got) < want and sys.cpu.cycles() < deadline:
            d = e.slot(i)
            if d is None:
                sys.sleep(deadline)
                continue
            got.append(d)
            i = (i + 1) % slots
    return main


def test_is_a_frame_matching_a_filter_written_into_its_owners_ring(net2: Network) -> None:
    got: list[bytes] = []
    log: list[Any] = []
    frames = [frame_to(net2, 0, 7000, b"hello %d" % i) for i in range(3)]
    net2.systems[0].kernel.create_env(receiver(7000, 4, 3, got), "rx")
    net2.systems[1].kernel.create_env(sender(frames, log), "tx")
    net2.run()
    assert got == [f + bytes(60 - len(f)) if len(f) < 60 else f for f in frames]  # padded by the controller
    st = net2.systems[0].kernel.net.statistics()
    assert (st.rx_frames, st.rx_delivered, st.rx_unmatched) == (3, 3, 0)
    assert st.demux_cycles > 0 and st.interrupts >= 1


def test_are_unmatched_frames_dropped_and_counted(net2: Network) -> None:
    got: list[bytes] = []
    frames = [frame_to(net2, 0, 7001, b"not yours"), frame_to(net2, 0, 7000, b"yours")]
    net2.systems[0].kernel.create_env(receiver(7000, 2, 1, got), "rx")
    net2.systems[1].kernel.create_env(sender(frames, []), "tx")
    net2.run()
    assert [g[42:47] for g in got] == [b"yours"]
    st = net2.systems[0].kernel.net.statistics()
    assert (st.rx_frames, st.rx_delivered, st.rx_unmatched) == (2, 1, 1)


def test_does_a_full_ring_drop_and_count(net2: Network) -> None:
    seen: list[int] = []

    def lazy(sys: NetSyscalls) -> None:  # a ring of two slots it never frees
        e = Env(sys, 2)
        ring = sys.ring_create(e.caps)
        sys.filter_install(ring, udp_filter("10.0.0.1", 7000))
        deadline = sys.cpu.cycles() + 3_000_000
        while sys.cpu.cycles() < deadline:  # each packet wakes it: it goes back to sleep
            sys.sleep(deadline)
        seen.extend(len(e.get(i, 0, 4)) for i in range(2))

    frames = [frame_to(net2, 0, 7000, b"%d" % i) for i in range(5)]
    net2.systems[0].kernel.create_env(lazy, "rx")
    net2.systems[1].kernel.create_env(sender(frames, []), "tx")
    net2.run()
    st = net2.systems[0].kernel.net.statistics()
    assert (st.rx_delivered, st.rx_ring_full) == (2, 3)


def test_is_a_filter_that_would_steal_anothers_traffic_refused_readably(net2: Network) -> None:
    out: list[str] = []

    def owner(sys: NetSyscalls) -> None:
        e = Env(sys, 1)
        sys.filter_install(sys.ring_create(e.caps), udp_filter("10.0.0.1", 7000))
        sys.yield_()

    def thief(sys: NetSyscalls) -> None:
        e = Env(sys, 2)
        ring = sys.ring_create(e.caps[:1])
        for spec in (udp_filter("10.0.0.1", 7000), "udp dst port 7000", [Atom(12, 2, 0xFFFF, 0x0800)]):
            try:
                sys.filter_install(ring, spec)
            except FilterRefused as err:
                out.append(str(err))
        out.append(str(sys.filter_install(ring, "udp dst port 7001")))  # a port nobody holds: fine
        for bad in (lambda: sys.filter_install(ring, []), lambda: sys.filter_install(ring, 42),
                    lambda: sys.filter_install(99, "udp"), lambda: sys.ring_create([]),
                    lambda: sys.ring_create(e.caps[:1]), lambda: sys.ring_create(["frame"]),
                    lambda: sys.net_send(e.caps[1], 4000, 200), lambda: sys.net_send(e.caps[1], 0, 5),
                    lambda: sys.filter_remove(12345)):
            try:
                bad()
            except AegisError as err:
                out.append(type(err).__name__ + ": " + str(err))

    k = net2.systems[0].kernel
    k.create_env(owner, "owner")
    k.create_env(thief, "thief")
    net2.run()
    assert len(out) == 13
    assert all("overlaps filter" in o and "of 1" in o for o in out[:3]), out[:3]
    assert out[3] == "[3, 4]"  # its IPv6 and IPv4 paths (2 went with the refused expression: all or none)
    assert out[4].startswith("FilterRefused: filter_install: ") and "empty" in out[4]
    assert out[5].startswith("BadArgument: filter_install: a filter is a list")
    assert out[6] == "BadArgument: filter_install: 99 is not one of your packet rings"
    assert out[7].startswith("BadArgument: ring_create: caps must be a list")
    assert out[8].startswith("BadFrame: ring_create: frame ") and out[8].endswith(" is in a packet ring already")
    assert out[9].startswith("BadCapability: ring_create: expected a capability")
    assert out[10].startswith("BadArgument: net_send: bytes 4000+200 are not inside one frame")
    assert out[11].startswith("BadArgument: net_send: transmit: a frame of 5 bytes has no Ethernet header")
    assert out[12] == "BadArgument: filter_remove: 12345 is not one of your filters"
    assert k.net.statistics().tx_refused == 1  # the NIC refused one; the kernel's own checks, before it


def test_is_a_dead_environments_filter_gone_and_its_port_free_again(net2: Network) -> None:
    k = net2.systems[0].kernel
    out: list[Any] = []

    def first(sys: NetSyscalls) -> None:
        e = Env(sys, 1)
        sys.filter_install(sys.ring_create(e.caps), udp_filter("10.0.0.1", 7000))
        raise RuntimeError("dies holding a filter")

    def second(sys: NetSyscalls) -> None:
        e = Env(sys, 1)
        sys.yield_()  # the first one dies meanwhile
        out.append(sys.filter_install(sys.ring_create(e.caps), udp_filter("10.0.0.1", 7000)))
        out.append(len(k.net.dpf.filters))

    k.create_env(first, "first")
    k.create_env(second, "second")
    net2.run()
    assert out == [[2], 1]


def test_may_an_environment_send_only_from_its_own_frames(net2: Network) -> None:
    out: list[str] = []
    caps: list[Any] = []

    def a(sys: NetSyscalls) -> None:
        e = Env(sys, 1)
        caps.append(sys.cap_derive(e.caps[0], e.caps[0].rights & ~4))  # READ|WRITE, no OWNER
        sys.yield_()

    def b(sys: NetSyscalls) -> None:
        try:
            sys.net_send(caps[0], 0, 60)
        except AegisError as err:
            out.append(type(err).__name__ + ": " + str(err))

    k = net2.systems[0].kernel
    k.create_env(a, "a")
    k.create_env(b, "b")
    net2.run()
    assert out == [f"BadFrame: net_send: frame {caps[0].resource} is not yours"]
    assert net2.nics[0].statistics().tx_frames == 0


def test_does_a_sleeping_machine_stay_idle_rather_than_spin(net2: Network) -> None:
    woke: list[int] = []

    def sleeper(sys: NetSyscalls) -> None:
        t = sys.cpu.cycles()
        woke.append(int(sys.sleep(t + 250_000)))
        woke.append(sys.cpu.cycles() - t)

    k = net2.systems[0].kernel
    k.create_env(sleeper, "sleeper")
    net2.run()
    assert woke[0] == 0 and 250_000 <= woke[1] < 251_000
    assert k.statistics().context_switches <= 3  # no slice-by-slice polling while it slept


def test_does_a_lone_machine_idle_through_a_sleep_to_its_time_out() -> None:
    from exospin.systems import boot

    s = boot("aegis")
    woke: list[Any] = []

    def sleeper(sys: NetSyscalls) -> None:
        t = sys.cpu.cycles()
        woke.append(sys.sleep(t + 100_000))
        woke.append(sys.cpu.cycles() - t >= 100_000)
        try:
            sys.net_info()
        except AegisError as e:
            woke.append(str(e))

    s.kernel.create_env(sleeper, "sleeper")
    s.run()
    assert woke == [False, True, "net_info: this machine has no network interface"]
    assert s.shutdown() == {"frames": 0, "capabilities": 0, "slices": 0, "environments": 0}


COPY_ASH = '''
def handler(pkt):
    if pkt.data[42] == 33:
        pkt.copy(100, 42, pkt.length - 42)
        pkt.to_ring()
    else:
        pkt.copy(0, 42, pkt.length - 42)
'''


def test_does_an_ash_copy_into_its_owners_buffer_and_pass_what_it_chooses(net2: Network) -> None:
    out: list[Any] = []
    frames = [frame_to(net2, 0, 7000, b"direct"), frame_to(net2, 0, 7000, b"!ring")]

    def owner(sys: NetSyscalls) -> None:
        e = Env(sys, 3)  # two ring slots, one buffer
        ring = sys.ring_create(e.caps[:2])
        sys.filter_install(ring, udp_filter("10.0.0.1", 7000))
        for bad in (lambda: sys.ash_install(ring, COPY_ASH, budget=0), lambda: sys.ash_install(ring, "x = (", "h"),
                    lambda: sys.ash_install(ring, COPY_ASH, "nothing"), lambda: sys.ash_install(7, COPY_ASH)):
            try:
                bad()
            except AegisError as err:
                out.append(str(err)[:44])
        aid = sys.ash_install(ring, COPY_ASH, buffer=e.caps[2])
        deadline = sys.cpu.cycles() + 2_000_000  # the first frame is consumed: no wake-up
        while sys.cpu.cycles() < deadline and not sys.sleep(deadline):
            pass
        out.append(e.get(2, 0, 6))
        out.append(e.get(2, 100, 6))
        out.append(e.slot(0))
        out.append(sys.ash_removed(aid))

    net2.systems[0].kernel.create_env(owner, "owner")
    net2.systems[1].kernel.create_env(sender(frames, []), "tx")
    net2.run()
    assert out[:4] == ["ash_install: budget must be an int from 1 to", "ash_install: the verifier refused the handle",
                       "ash_install: the handler defines no function", "ash_install: 7 is not one of your packet rin"]
    assert out[4] == b"direct"  # copied by the handler; the ring got nothing
    assert out[5] == b"!ring\x00"  # the second copied elsewhere (with the frame's padding), and passed on
    ring_frame = out[6]
    assert ring_frame is not None and ring_frame[42:47] == b"!ring"
    st = net2.systems[0].kernel.net.statistics()
    assert (st.ash_runs, st.rx_delivered, st.ash_removed) == (2, 1, 0)
    assert out[7] is None

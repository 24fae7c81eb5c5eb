"""The network hardware: NICs on links, several machines on one deterministic schedule.

Two machines on each link: a UDP frame built with dpkt is written into A's memory
and transmitted by A's NIC; it lands in a buffer B's kernel posted, at the time the
wire, the propagation and the controllers make it, B's receive interrupt is raised,
and the bytes read back parse as the datagram sent. Then: determinism (same seed,
same trace and pcap bytes), refusals with readable errors, drops counted, a pcap read
back by an independent reader (libpcap through pcapy-ng), and idle machines that
neither advance nor hang.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exospin.machine import (
    ATM,
    ETHERNET,
    IRQ_NIC,
    LANCE,
    LINKS,
    PS_PER_S,
    TCA100,
    FrameTooLarge,
    NICError,
    get_link,
)
from exospin.net import FrameError, ipv4, parse, pcap_bytes, udp_frame
from exospin.systems import network

PAYLOAD = b"sixteen bytes!!!"


def _frame(net, payload=PAYLOAD, src=0, dst=1, dport=7):
    a, b = net.nics[src], net.nics[dst]
    return udp_frame(a.mac, b.mac, ipv4(f"10.0.0.{src + 1}"), ipv4(f"10.0.0.{dst + 1}"), 7000, dport, payload)


def _top(m, pages=17):
    """A buffer at the top of physical memory, out of the kernels' way (these tests boot
    no environment, so no kernel allocates there)."""
    return m.profile.memory_frames - pages


class Receiver:
    """What a driver does on a receive interrupt: ack, take every frame, post the buffer again."""

    def __init__(self, system, nic, buffers=1):
        self.m, self.nic, self.got = system.machine, nic, []
        self.irqs = 0
        system.kernel.irq_handlers[nic.irq] = self.interrupt
        for i in range(buffers):
            nic.post_rx(_top(self.m, 17 * (i + 1)), 0)

    def interrupt(self, irq):
        assert irq == self.nic.irq
        self.irqs += 1
        self.nic.ack()
        while (r := self.nic.receive()) is not None:
            self.got.append((self.m.loop.now, bytes(self.m.memory.span(r.pfn, r.offset, r.length))))
            self.nic.post_rx(r.pfn, r.offset)


def _send_at(net, cycles, frame, src=0, slot=0):
    m, nic = net.systems[src].machine, net.nics[src]
    pfn = _top(m, 1 + slot)

    def send():
        m.memory.span(pfn, 0, len(frame))[:] = frame
        nic.transmit(pfn, 0, len(frame))

    m.loop.schedule(cycles, send)


@pytest.mark.parametrize("link", sorted(LINKS))
@pytest.mark.parametrize("pair", [("aegis", "spin"), ("unix", "aegis"), ("spin", "unix")])
def test_does_a_udp_frame_cross_the_link_at_the_time_the_wire_makes_it(link, pair):
    net = network(list(pair), link=link)
    a, b = net.systems
    na, nb = net.nics
    rx = Receiver(b, nb)
    frame = _frame(net)
    _send_at(net, 1000, frame)
    net.run()
    assert rx.irqs == 1 and len(rx.got) == 1
    at, data = rx.got[0]
    p = parse(data)  # checksums verified
    assert p.udp is not None and p.udp.payload == PAYLOAD and (p.udp.sport, p.udp.dport) == (7000, 7)
    assert p.ip is not None and p.ip.src == ipv4("10.0.0.1") and p.dst == nb.mac

    # the time: A's set-up, the controller's start, the wire, the propagation, the
    # receive side; B's interrupt, acknowledge and receive charged on B's processor
    spec = get_link(link)
    pa, pb = a.machine.profile, b.machine.profile
    ps = lambda cycles, p: cycles * PS_PER_S // p.clock_hz  # noqa: E731
    ctl = spec.controller
    n = len(data)
    t = ps(1000 + ctl.tx_writes * pa.io_write, pa)
    if ctl.dma:
        t += (ctl.descriptor_transfers + min(n, ctl.fifo_bytes) // 2) * ctl.transfer_ns * 1000
        assert n == 60  # padded to the Ethernet minimum
    else:
        t = ps(1000 + ctl.tx_writes * pa.io_write
               + spec.cells(n) * (ctl.cell_words * pa.io_write + 48 // pa.word_bytes * pa.mem_ref), pa)
        assert n == len(frame)
    t += spec.wire_ps(n) + spec.propagation_ps()
    if ctl.dma:
        t += (min(n, ctl.burst_bytes) // 2 + ctl.status_transfers) * ctl.transfer_ns * 1000
    arrive = -(-t * pb.clock_hz // PS_PER_S)
    taken = pb.trap_entry + pb.interrupt + ctl.ack_reads * pb.io_read + ctl.ack_writes * pb.io_write
    taken += ctl.rx_reads * pb.io_read
    if not ctl.dma:
        taken += spec.cells(n) * (ctl.cell_words * pb.io_read + 48 // pb.word_bytes * pb.mem_ref)
    assert at == arrive + taken
    sa, sb = na.statistics(), nb.statistics()
    assert (sa.tx_frames, sb.rx_frames, sb.interrupts, sb.rx_posted) == (1, 1, 1, 1)
    assert net.statistics()["world"].frames_delivered == 1
    assert all(v == 0 for held in net.shutdown() for v in held.values())


def test_are_the_wire_figures_those_of_the_standards():
    # Ethernet: 8 bytes of preamble, 64-byte minimum frame with FCS, 10 Mb/s: 57.6 us
    assert ETHERNET.wire_ps(0) == 72 * 8 * 100_000
    assert ETHERNET.wire_ps(1514) == (8 + 1518) * 8 * 100_000
    # ATM: LE header + frame + AAL5 trailer in 48-byte payloads, 53-byte cells at 149.76 Mb/s
    assert ATM.cells(38) == 1 and ATM.cells(39) == 2  # 2 + 38 + 8 = 48
    assert ATM.cells(1514) == 32
    assert ATM.wire_ps(1514) == -(-32 * 53 * 8 * PS_PER_S // 149_760_000)
    for spec in LINKS.values():
        for fig in list(spec.figures.values()) + list(spec.controller.figures.values()):
            assert fig.unit.strip() and fig.source.strip()
    assert LANCE.dma and not TCA100.dma


@pytest.mark.parametrize("link", sorted(LINKS))
def test_does_the_same_seed_give_the_same_trace_and_the_same_pcap_bytes(link):
    def once(seed):
        net = network(["aegis", "spin"], link=link, seed=seed, trace=True)
        rx = Receiver(net.systems[1], net.nics[1], buffers=4)
        for i in range(3):
            _send_at(net, 500 + 300 * i, _frame(net, payload=bytes([i]) * (10 + 200 * i)), slot=i)
        net.run()
        traces = [s.tracer.digest() for s in net.systems]
        return rx.got, traces, pcap_bytes(net.link.captured)

    first = once(3)
    assert first == once(3)
    assert len(first[0]) == 3


@pytest.mark.parametrize("link", sorted(LINKS))
def test_what_if_a_frame_is_too_large_for_the_link(link):
    net = network(["aegis", "unix"], link=link)
    m, nic = net.systems[0].machine, net.nics[0]
    spec = get_link(link)
    before = m.loop.now
    with pytest.raises(FrameTooLarge, match=rf"frame of {spec.max_frame + 1} bytes is longer than {link} carries"):
        nic.transmit(_top(m), 0, spec.max_frame + 1)
    assert m.loop.now == before and nic.statistics().tx_frames == 0 and nic.statistics().tx_refused == 1
    with pytest.raises(NICError, match="no Ethernet header"):
        nic.transmit(_top(m), 0, 10)
    with pytest.raises(NICError, match="not in memory"):
        nic.transmit(m.profile.memory_frames, 0, 100)
    net.run()
    assert net.link.frames == 0


def test_what_if_a_udp_payload_cannot_fit_an_ethernet_frame():
    net = network(["aegis", "aegis"])
    frame = _frame(net, payload=bytes(1473))  # 1472 is the most a 1500-byte MTU carries
    assert len(frame) == 1515
    m, nic = net.systems[0].machine, net.nics[0]
    m.memory.span(_top(m), 0, len(frame))[:] = frame
    with pytest.raises(FrameTooLarge, match="1518 with it"):
        nic.transmit(_top(m), 0, len(frame))


@pytest.mark.parametrize("link", sorted(LINKS))
def test_does_a_full_receive_ring_drop_and_count(link):
    net = network(["aegis", "spin"], link=link, rx_ring=2)
    nb = net.nics[1]
    mb = net.systems[1].machine
    nb.post_rx(_top(mb, 17), 0)
    nb.post_rx(_top(mb, 34), 0)
    with pytest.raises(NICError, match=r"receive ring is full \(2 buffers"):
        nb.post_rx(_top(mb, 51), 0)
    # no driver takes the frames: the ring (LANCE) fills with two, the third is dropped;
    # the TCA-100 keeps them in its FIFO, so it is made too small for the third there
    for i in range(3):
        _send_at(net, 100 + 10 * i, _frame(net, payload=bytes(800)), slot=i)
    if link == "atm":
        nb._fifo_cells = TCA100.fifo_cells - 2 * ATM.cells(842)
    net.run()
    s = nb.statistics()
    assert s.rx_frames == 2 and s.rx_dropped_full == 1
    assert s.interrupts == 1  # no driver acknowledged the first


def test_what_if_a_receive_buffer_is_bad():
    net = network(["unix", "unix"])
    m, nic = net.systems[1].machine, net.nics[1]
    with pytest.raises(NICError, match="not in memory"):
        nic.post_rx(m.profile.memory_frames - 1, 0, 8192)
    with pytest.raises(NICError, match="cannot hold a frame header"):
        nic.post_rx(0, 0, 10)
    with pytest.raises(NICError, match="must be an int"):
        nic.post_rx("0", 0)  # type: ignore[arg-type]
    assert nic.statistics().rx_posted == 0


def test_does_a_frame_longer_than_its_buffer_drop_and_count():
    net = network(["aegis", "aegis"])
    nb, mb = net.nics[1], net.systems[1].machine
    nb.post_rx(_top(mb), 0, 100)
    _send_at(net, 100, _frame(net, payload=bytes(200)))
    net.run()
    assert nb.statistics().rx_dropped_too_long == 1 and nb.statistics().rx_frames == 0


def test_does_a_nic_keep_only_frames_addressed_to_it():
    net = network(["aegis", "aegis", "aegis"])
    rx1 = Receiver(net.systems[1], net.nics[1])
    rx2 = Receiver(net.systems[2], net.nics[2])
    _send_at(net, 100, _frame(net, dst=2))
    net.run()
    assert not rx1.got and len(rx2.got) == 1
    assert net.nics[1].statistics().rx_filtered == 1


def test_does_a_transmitter_send_its_frames_one_after_another():
    net = network(["aegis", "aegis"])
    rx = Receiver(net.systems[1], net.nics[1], buffers=3)
    frame = _frame(net, payload=bytes(1000))
    for i in range(3):
        _send_at(net, 100, frame, slot=i)  # three at once: queued behind one another
    net.run()
    times = [t for t, _ in rx.got]
    gap = (ETHERNET.wire_ps(len(frame)) + ETHERNET.gap_ps()) * 25_000_000 // PS_PER_S
    assert len(times) == 3 and all(abs((b - a) - gap) <= 40 for a, b in zip(times, times[1:], strict=False))
    assert net.nics[0].statistics().tx_queued == 0 and net.nics[0].tx_done() == 3


def test_does_a_full_transmit_queue_refuse():
    net = network(["aegis", "aegis"], tx_ring=1)
    m, nic = net.systems[0].machine, net.nics[0]
    frame = _frame(net)
    m.memory.span(_top(m), 0, len(frame))[:] = frame
    nic.transmit(_top(m), 0, len(frame))
    with pytest.raises(NICError, match=r"transmit queue is full \(1 frames\)"):
        nic.transmit(_top(m), 0, len(frame))
    net.run()
    assert nic.tx_done() == 1


def test_can_machines_of_different_profiles_share_a_link():
    net = network(["aegis", "spin"], link="atm", profile=["ds5000", "alpha3000"])
    rx = Receiver(net.systems[1], net.nics[1])
    _send_at(net, 1000, _frame(net))
    net.run()
    assert len(rx.got) == 1 and parse(rx.got[0][1]).udp.payload == PAYLOAD


def test_does_a_reply_come_back():
    # B answers every frame from its interrupt handler: a round trip on one schedule
    net = network(["spin", "unix"])
    ra = Receiver(net.systems[0], net.nics[0])
    mb, nb = net.systems[1].machine, net.nics[1]
    rb = Receiver(net.systems[1], nb)
    inner = rb.interrupt
    reply = _frame(net, src=1, dst=0)

    def echo(irq):
        inner(irq)
        mb.memory.span(_top(mb, 1), 0, len(reply))[:] = reply
        nb.transmit(_top(mb, 1), 0, len(reply))

    net.systems[1].kernel.irq_handlers[nb.irq] = echo
    _send_at(net, 1000, _frame(net))
    net.run()
    assert len(ra.got) == 1 and parse(ra.got[0][1]).ip.src == ipv4("10.0.0.2")
    # the reply cannot beat two trips of the shortest frame
    assert net.systems[0].machine.us(ra.got[0][0]) > 2 * ETHERNET.lookahead_ps() / 1e6


def test_does_a_network_run_its_applications_and_stop_when_nothing_is_left():
    # a real environment on each machine (an ExOS process computing): both finish, the
    # schedule interleaves them, and run() returns
    net = network(["aegis", "unix"])

    def work(argv):
        import exospin.posix  # noqa: F401 - an application, against posix only
        return 0

    pid_a = net.systems[0].start(work)
    pid_b = net.systems[1].start(work)
    net.run()
    assert net.systems[0].exit_status(pid_a) == 0 and net.systems[1].exit_status(pid_b) == 0


def test_does_run_until_stop_every_clock_and_go_on_afterwards():
    net = network(["aegis", "aegis"])
    rx = Receiver(net.systems[1], net.nics[1])
    _send_at(net, 25_000, _frame(net))  # at 1 ms
    net.run(until_us=500)
    assert not rx.got and all(s.machine.us(s.machine.loop.now) <= 500 for s in net.systems)
    net.run()
    assert len(rx.got) == 1


def test_are_interrupts_routed_without_touching_the_timer():
    # unix: a NIC interrupt must not disarm the quantum (the timer path stays as it was)
    net = network(["aegis", "unix"])
    k = net.systems[1].kernel
    seen = []
    k.irq_handlers[IRQ_NIC] = seen.append
    k._armed = True
    k._interrupt(IRQ_NIC)
    assert seen == [IRQ_NIC] and k._armed is True
    k._interrupt(IRQ_NIC + 5)  # no handler: ignored
    assert k.interrupts == 2


def test_what_if_a_network_is_asked_for_badly():
    from exospin.machine import UnknownLink
    from exospin.systems import UnknownSystem

    with pytest.raises(UnknownLink, match="unknown link 'token-ring' \\(known: ethernet, atm\\)"):
        network(["aegis", "aegis"], link="token-ring")
    with pytest.raises(UnknownSystem):
        network(["aegis", "vms"])
    with pytest.raises(ValueError, match="2 systems but 3 profiles"):
        network(["aegis", "aegis"], profile=["ds5000"] * 3)
    with pytest.raises(NICError, match="power of two"):
        network(["aegis", "aegis"], rx_ring=3)


def test_what_if_a_frame_is_malformed():
    net = network(["aegis", "aegis"])
    good = _frame(net)
    with pytest.raises(FrameError, match="truncated frame"):
        parse(good[:10])
    with pytest.raises(FrameError, match="truncated IPv4 datagram"):
        parse(good[:40])
    bad = bytearray(good)
    bad[24] ^= 0xFF  # the IP checksum
    with pytest.raises(FrameError, match="bad IPv4 header checksum"):
        parse(bytes(bad))
    assert parse(bytes(bad), verify=False).ip.checksum_ok is False
    bad = bytearray(good)
    bad[-1] ^= 1
    with pytest.raises(FrameError, match="bad UDP checksum"):
        parse(bytes(bad))


def test_can_an_independent_reader_open_the_pcap(tmp_path):
    pcapy = pytest.importorskip("pcapy")
    net = network(["aegis", "spin"], link="atm")
    rx = Receiver(net.systems[1], net.nics[1], buffers=2)
    frames = [_frame(net, payload=b"one"), _frame(net, payload=b"two" * 100)]
    for i, f in enumerate(frames):
        _send_at(net, 1000 * (i + 1), f, slot=i)
    net.run()
    path = tmp_path / "net.pcap"
    assert net.write_pcap(path) == 2
    reader = pcapy.open_offline(str(path))
    assert reader.datalink() == 1  # DLT_EN10MB
    seen = []
    while True:
        hdr, data = reader.next()
        if hdr is None:
            break
        seen.append((hdr.getts(), data))
    assert [d for _, d in seen] == frames == [d for _, d in rx.got]
    # times: the first bit of each frame, in simulated seconds (libpcap gives microseconds)
    captured = net.link.captured
    assert [s * 1_000_000 + us for (s, us), _ in seen] == [ps // 1_000_000 for ps, _ in captured]
    assert path.read_bytes() == pcap_bytes(captured)


def _busy(argv):
    from exospin import posix

    for _ in range(400):
        posix.compute(50)
    return 0


@pytest.mark.parametrize("link", sorted(LINKS))
def test_are_frames_taken_at_the_next_boundary_when_both_machines_are_busy(link):
    # the same frames with the receiver idle and with both machines running a program:
    # busy, each arrives no earlier, and at the latest one charge (a compute(50), an
    # interrupt path) later; the programs finish on both machines
    def once(busy):
        net = network(["aegis", "unix"], link=link)
        rx = Receiver(net.systems[1], net.nics[1], buffers=4)
        pids = [s.start(_busy) for s in net.systems] if busy else []
        for i in range(4):
            _send_at(net, 2000 + 2500 * i, _frame(net, payload=bytes(100 * i)), slot=i)
        net.run()
        assert all(s.exit_status(p) == 0 for s, p in zip(net.systems, pids, strict=False))
        return [t for t, _ in rx.got], [d for _, d in rx.got], net.statistics()["world"].resumes

    idle_t, idle_d, _ = once(False)
    busy_t, busy_d, resumes = once(True)
    assert busy_d == idle_d and len(busy_d) == 4
    assert all(0 <= b - a <= 400 for a, b in zip(idle_t, busy_t, strict=True)), (idle_t, busy_t)
    assert resumes > 4  # the two machines were interleaved, not run one after the other


_sends = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 20_000), st.integers(0, 1400)),
                  min_size=1, max_size=8)


@settings(max_examples=15, deadline=None)
@given(sends=_sends, link=st.sampled_from(sorted(LINKS)))
def test_is_every_frame_delivered_in_order_after_the_lookahead_and_the_same_twice(sends, link):
    sends = [(s, d, t, n) for s, d, t, n in sends if s != d]

    def once():
        net = network(["aegis", "spin", "unix"], link=link)
        rxs = [Receiver(sy, nic, buffers=8) for sy, nic in zip(net.systems, net.nics, strict=True)]
        slots = [0, 0, 0]
        for s, d, t, n in sends:
            _send_at(net, t, _frame(net, payload=bytes([slots[s]]) + bytes(n), src=s, dst=d), src=s, slot=slots[s])
            slots[s] += 1
        net.run()
        return net, rxs

    net, rxs = once()
    spec = get_link(link)
    hz = 25_000_000
    for d, rx in enumerate(rxs):
        mine = [(s, t, n) for s, dd, t, n in sends if dd == d]
        assert len(rx.got) == len(mine)
        for (at, data) in rx.got:
            p = parse(data)
            s = p.ip.src[3] - 1
            # a frame sent at t cannot be taken before t plus the lookahead
            earliest = min(t for ss, t, _ in mine if ss == s)
            assert at * PS_PER_S // hz >= earliest * PS_PER_S // hz + spec.lookahead_ps()
        for s in range(3):  # from one sender, in the order it sent (by time, then as scheduled)
            seq = [parse(data).udp.payload[0] for _, data in rx.got if parse(data).ip.src[3] - 1 == s]
            sent = [(t, i) for i, (ss, t) in enumerate((ss, t) for ss, _, t, _ in sends if ss == s)]
            order = [i for _, i in sorted(sent)]
            mine_from_s = [i for i, (ss, dd, _, _) in enumerate(x for x in sends if x[0] == s) if dd == d]
            assert seq == [i for i in order if i in mine_from_s]
    again = once()[1]
    assert [rx.got for rx in rxs] == [rx.got for rx in again]


@pytest.mark.parametrize("names", [["aegis", "unix"], ["unix", "aegis"], ["spin", "aegis"]])
def test_does_a_program_go_on_when_a_run_is_cut_short_and_resumed(names):
    # with the other machine idle the world's horizon is the run's limit, the same cycle as
    # the kernel's own stop: the next run must still resume the program, not take the
    # machine for idle
    net = network(names)
    pid = net.systems[0].start(_busy)
    rx = Receiver(net.systems[1], net.nics[1])
    _send_at(net, 30_000, _frame(net))  # at 1.2 ms, after the program
    net.run(until_us=100)
    assert net.systems[0].exit_status(pid) is None
    net.run(until_us=333.3)
    net.run()
    assert net.systems[0].exit_status(pid) == 0 and len(rx.got) == 1


def test_what_if_a_handler_raises_in_a_machine():
    net = network(["aegis", "aegis"])

    def bad(irq):
        raise KeyError("driver bug")

    net.systems[1].kernel.irq_handlers[net.nics[1].irq] = bad
    net.nics[1].post_rx(_top(net.systems[1].machine), 0)
    _send_at(net, 100, _frame(net))
    with pytest.raises(KeyError, match="driver bug"):
        net.run()
    with pytest.raises(RuntimeError, match="cannot run on: machine 1 stopped on KeyError"):
        net.run()

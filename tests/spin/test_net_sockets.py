"""SPIN's posix sockets through the Unix personality: blocking, poll, errors, determinism, flat demultiplexing."""

from __future__ import annotations

from typing import Any

from exospin import posix
from exospin.spin import extensions
from exospin.spin import net as spin_net
from exospin.systems import boot, network


def _pair(seed: int = 0, echo: bool = True) -> Any:
    net = network(["spin", "spin"], seed=seed)
    for s in net.systems:
        spin_net.attach(s)
    if echo:
        net.systems[1].kernel.load(extensions.source("udp_echo"), "udp_echo.py")
    return net


def _done(net: Any) -> None:
    held = net.shutdown()
    assert all(not any(h.values()) for h in held), held


def test_does_recvfrom_block_the_strand_and_poll_time_out() -> None:
    net = _pair()
    a = net.systems[0]
    k = a.kernel
    got: list[Any] = []

    def client(argv: list[str]) -> int:
        s = posix.socket()
        posix.bind(s, ("0.0.0.0", 0))  # any free port
        t0 = posix.time_us()
        got.append(posix.poll([s], 2000.0))  # nothing comes: the time-out
        got.append(posix.time_us() - t0)
        calls = k.syscalls
        posix.sendto(s, b"ping", ("10.0.0.2", 7))
        got.append(posix.poll([s], 20_000.0))  # the echo comes well before
        got.append(posix.recvfrom(s, 2))  # at most n bytes of it
        got.append(k.syscalls - calls)
        posix.sendto(s, b"again", ("10.0.0.2", 7))
        got.append(posix.recvfrom(s, 100))  # blocks: no busy wait
        posix.close(s)
        return 0

    blocks = k.sched.statistics()
    pid = a.start(client)
    net.run()
    assert a.exit_status(pid) == 0, a.failures()
    assert got[0] == [] and 2000.0 <= got[1] < 2100.0
    assert len(got[2]) == 1  # the socket, ready
    assert got[3] == (b"pi", ("10.0.0.2", 7))
    assert got[4] == 3  # sendto, poll, recvfrom: one trap each, whatever the wait
    assert got[5] == (b"again", ("10.0.0.2", 7))
    assert k.sched.statistics().blocks >= blocks.blocks + 3
    _done(net)


def test_what_if_a_socket_is_misused() -> None:
    net = _pair(echo=False)
    a = net.systems[0]
    errs: list[str] = []

    def attempt(fn: Any, *args: Any) -> None:
        try:
            fn(*args)
            errs.append("ok")
        except posix.PosixError as e:
            errs.append(e.errno)

    def main(argv: list[str]) -> int:
        attempt(posix.socket, 99, posix.SOCK_DGRAM)
        attempt(posix.socket, posix.AF_INET, 99)
        s = posix.socket()
        r, w = posix.pipe()
        attempt(posix.bind, r, ("0.0.0.0", 9))
        attempt(posix.bind, s, ("10.0.0.9", 9))  # not our address
        attempt(posix.bind, s, ("not an ip", 9))
        attempt(posix.bind, s, ("0.0.0.0", 70000))
        attempt(posix.sendto, s, b"x" * (posix.UDP_MAX_PAYLOAD + 1), ("10.0.0.2", 9))
        attempt(posix.sendto, s, "text", ("10.0.0.2", 9))
        attempt(posix.recvfrom, s, 10)  # never bound: nothing can come
        attempt(posix.poll, [], None)
        attempt(posix.bind, s, ("10.0.0.1", 9))
        attempt(posix.bind, s, ("0.0.0.0", 10))  # a second bind
        posix.close(s)
        attempt(posix.sendto, s, b"x", ("10.0.0.2", 9))  # after close
        attempt(posix.recvfrom, s, 10)
        attempt(posix.read, s, 1)
        posix.close(r)
        posix.close(w)
        return 0

    pid = a.start(main)
    net.run()
    assert a.exit_status(pid) == 0, a.failures()
    assert errs == ["EAFNOSUPPORT", "EPROTONOSUPPORT", "ENOTSOCK", "EADDRNOTAVAIL", "EINVAL", "EINVAL",
                    "EMSGSIZE", "EINVAL", "EINVAL", "EINVAL", "ok", "EINVAL", "EBADF", "EBADF", "EBADF"]
    _done(net)


def test_is_a_socket_call_on_spin_without_a_stack_enosys() -> None:
    spin = boot("spin")
    errs: list[str] = []

    def main(argv: list[str]) -> int:
        try:
            posix.socket()
        except posix.PosixError as e:
            errs.append(e.errno)
        return 0

    spin.start(main)
    spin.run()
    assert errs == ["ENOSYS"]
    spin.shutdown()


def test_does_a_forked_child_share_the_socket_until_the_last_close() -> None:
    net = _pair(echo=False)
    a, b = net.systems
    udp = b.net.domain.interface("spin.UDP")
    got: list[Any] = []

    def child(s: int) -> int:
        posix.close(s)
        return 0

    def server(argv: list[str]) -> int:
        s = posix.socket()
        posix.bind(s, ("0.0.0.0", 9000))
        pid = posix.fork(child, s)
        posix.wait(pid)
        got.append(udp.holder(9000))  # the child's close left the parent's reference
        data, addr = posix.recvfrom(s, 100)
        posix.sendto(s, data, addr)
        posix.close(s)
        got.append(udp.holder(9000))
        return 0

    def client(argv: list[str]) -> int:
        s = posix.socket()
        posix.sendto(s, b"shared", ("10.0.0.2", 9000))
        got.append(posix.recvfrom(s, 100))
        return 0  # exit closes it

    b.start(server)
    a.start(client)
    net.run()
    assert a.failures() == [] and b.failures() == [], (a.failures(), b.failures())
    assert got == ["udp_sockets", (b"shared", ("10.0.0.2", 9000)), None] or got == [
        "udp_sockets", None, (b"shared", ("10.0.0.2", 9000))]
    _done(net)


def _trace(seed: int) -> tuple[Any, ...]:
    net = _pair(seed=seed)
    a = net.systems[0]
    out: list[Any] = []

    def client(argv: list[str]) -> int:
        s = posix.socket()
        for i in range(3):
            posix.sendto(s, bytes([i]) * 16, ("10.0.0.2", 7))
            out.append((posix.recvfrom(s, 100), posix.time_us()))
        return 0

    a.start(client)
    net.run()
    cap = tuple(net.link.captured)
    st = (a.net.statistics(), net.systems[1].net.statistics(), a.machine.loop.now)
    _done(net)
    return (tuple(out), cap, st)


def test_does_the_same_seed_give_the_same_packets_at_the_same_times() -> None:
    assert _trace(3) == _trace(3)


def test_does_a_datagram_cost_the_same_however_many_ports_are_claimed() -> None:
    costs = []
    for n in (1, 100):
        net = _pair()
        b = net.systems[1]
        echo = next(d for d in b.kernel.extensions if d.name == "udp_echo")
        serve = next(iter(echo.exports.values()))["serve"]
        for p in range(1, n):
            serve(10_000 + p)
        a = net.systems[0]
        marks: list[int] = []
        orig = b.net._interrupt

        def timed(irq: int, orig: Any = orig, b: Any = b, marks: list[int] = marks) -> None:
            t = b.machine.loop.now
            orig(irq)
            marks.append(b.machine.loop.now - t)

        b.kernel.irq_handlers[b.net.ifaces[0]._nic.irq] = timed

        def client(argv: list[str]) -> int:
            s = posix.socket()
            for _ in range(2):
                posix.sendto(s, b"x" * 16, ("10.0.0.2", 7))
                posix.recvfrom(s, 100)
            return 0

        a.start(client)
        net.run()
        costs.append(marks[-1])  # the second datagram's interrupt: receive, 3 dispatches, echo
        _done(net)
    assert costs[0] == costs[1]


def _echo_interrupt_cycles(payload: int) -> tuple[int, Any]:
    """Cycles of the echo machine's interrupt for the second datagram of ``payload`` bytes."""
    net = _pair()
    a, b = net.systems
    marks: list[int] = []
    orig = b.net._interrupt

    def timed(irq: int) -> None:
        t = b.machine.loop.now
        orig(irq)
        marks.append(b.machine.loop.now - t)

    b.kernel.irq_handlers[b.net.ifaces[0]._nic.irq] = timed

    def client(argv: list[str]) -> int:
        s = posix.socket()
        for _ in range(2):
            posix.sendto(s, b"y" * payload, ("10.0.0.2", 7))
            posix.recvfrom(s, 2048)
        return 0

    a.start(client)
    net.run()
    p = b.machine.profile
    _done(net)
    return marks[-1], p


def test_is_the_kernel_charged_per_word_for_checksums_and_the_transmit_copy() -> None:
    small, p = _echo_interrupt_cycles(16)
    large, _ = _echo_interrupt_cycles(1472)
    word = p.word_bytes

    def words(n: int, w: int) -> int:
        return -(-n // w)
    sum_word = p.mem_ref + 2 * p.insn
    # the UDP checksum is computed twice (the datagram in, the reply out), over pseudo-header,
    # header and payload; the reply frame is copied into the transmit buffer; nothing else
    # the interrupt does depends on the size (the LANCE's DMA is not the processor's)
    expect = (2 * (words(20 + 1472, 4) - words(20 + 16, 4)) * sum_word
              + (words(42 + 1472, word) - words(42 + 16, word)) * p.copy_word)
    assert large - small == expect


def test_does_a_full_socket_buffer_drop_and_count_and_keep_the_rest_in_order() -> None:
    net = _pair(echo=False)
    a, b = net.systems
    got: list[bytes] = []

    def server(argv: list[str]) -> int:
        s = posix.socket()
        posix.bind(s, ("0.0.0.0", 9000))
        data, addr = posix.recvfrom(s, 10)  # the start signal
        posix.sendto(s, b"ok", addr)
        t = posix.time_us()
        while posix.time_us() - t < 30_000:  # busy elsewhere while 20 datagrams arrive
            posix.compute(1000)
        while posix.poll([s], 0):
            got.append(posix.recvfrom(s, 10)[0])
        posix.close(s)
        return 0

    def client(argv: list[str]) -> int:
        s = posix.socket()
        posix.sendto(s, b"go", ("10.0.0.2", 9000))
        posix.recvfrom(s, 10)  # (the addresses are resolved now)
        for i in range(20):
            posix.sendto(s, bytes([65 + i]), ("10.0.0.2", 9000))
            t = posix.time_us()
            while posix.time_us() - t < 200:  # a frame's wire time and more
                posix.compute(100)
        return 0

    b.start(server)
    a.start(client)
    net.run()
    sockets = dict(next(d for d in b.kernel.extensions if d.name == "udp_sockets").exports["spin.udp_sockets"])
    assert got == [bytes([65 + i]) for i in range(16)]  # the buffer's 16, in order
    assert sockets["statistics"]() == {"datagrams_in": 17, "dropped_full": 4, "datagrams_out": 1, "bound": 0}
    _done(net)


def test_does_transmit_refuse_what_is_not_a_frame_of_the_interface() -> None:
    net = _pair(echo=False)
    a = net.systems[0]
    ether = a.net.domain.interface("spin.Ether")
    iface = a.net.ifaces[0]
    other = net.nics[1].mac
    ok = other + iface.mac + b"\x08\x00" + bytes(46)
    refusals = [ether.transmit(iface, "text"), ether.transmit(iface, ok[:10]),
                ether.transmit(iface, ok + bytes(1500)), ether.transmit(iface, other + other + ok[12:])]
    assert [r.errno for r in refusals] == ["EINVAL", "EMSGSIZE", "EMSGSIZE", "EPERM"]
    assert "is not if0's" in refusals[3].message
    before = net.nics[0].statistics().tx_frames
    assert ether.transmit(iface, ok) == 60
    assert net.nics[0].statistics().tx_frames == before + 1
    assert a.net.statistics().tx_refused == 4
    try:
        ether.transmit("if0", ok)
    except TypeError as e:
        assert "an interface from Net.interfaces()" in str(e)
    else:
        raise AssertionError("a forged interface was accepted")
    net.run()
    _done(net)

"""ASHs: verified handlers the kernel runs on a socket's packets (aegis/netdrv.py), installed through ExOS."""

from __future__ import annotations

from typing import Any

from exospin import posix
from exospin.apps import udp_exos
from exospin.systems import network

#: An echo in the kernel: swap the MACs, the IP addresses and the ports. Both checksums
#: are sums over fields whose order does not matter, so they still hold.
ECHO = '''
def handler(pkt):
    d = pkt.data
    hl = (d[14] & 15) * 4
    u = 14 + hl
    pkt.reply(d[6:12] + d[0:6] + d[12:26] + d[30:34] + d[26:30] + d[34:u] + d[u + 2:u + 4] + d[u:u + 2] + d[u + 4:])
'''

RUNAWAY = '''
def handler(pkt):
    n = 0
    while True:
        n = n + 1
'''

RAISES = '''
def handler(pkt):
    pkt.copy(0, 0, 10)
'''


def ash_server(source: str, box: list[Any], library_echoes: int, port: int = 7) -> Any:
    def main(argv: list[str]) -> int:
        p: Any = posix._p()  # ExOS' own process object: ash_install is not posix
        s = posix.socket()
        posix.bind(s, ("0.0.0.0", port))
        try:
            box.append(p.ash_install(s, source))
        except posix.PosixError as e:
            box.append(str(e))  # "ERRNO: message"
            posix.close(s)
            return 0
        for _ in range(library_echoes):  # what reaches the ring: echoed by the library
            data, peer = posix.recvfrom(s, 2000)
            posix.sendto(s, data, peer)
        box.append(posix.poll([s], 20_000.0))  # the ASH answers the rest: nothing reaches the ring
        box.append(list(p.net.ashes_removed))
        posix.close(s)
        return 0
    return main


def echo_run(source: str | None, count: int, library_echoes: int = 0) -> tuple[Any, list[Any], float]:
    net = network(["aegis", "aegis"])
    a, b = net.systems
    box: list[Any] = []
    srv = udp_exos.server if source is None else ash_server(source, box, library_echoes)
    ps = a.start(srv, ["7", str(count)])
    pc = b.start(udp_exos.client, ["10.0.0.1", "7", str(count), "16"])
    net.run()
    assert (a.exit_status(ps), b.exit_status(pc)) == (0, 0), (a.failures(), b.failures())
    end = max(c[0] for c in net.link.captured or []) / 1e6  # when the last frame went out, µs
    st = a.kernel.net.statistics()
    for s in net.systems:
        assert s.kernel.check_invariants() == []
    assert [h for h in net.shutdown() if any(h.values())] == []
    return st, box, end


def test_does_an_ash_echo_from_the_kernel_and_sooner_than_the_library() -> None:
    st, box, with_ash = echo_run(ECHO, 3)
    assert box[0] == 1 and box[1] == [] and box[2] == []  # its id; the ring got nothing; not removed
    assert (st.ash_runs, st.ash_replies, st.ash_removed, st.rx_delivered) == (3, 3, 0, 1)  # the ARP request
    _, _, without = echo_run(None, 3)
    assert with_ash < without  # the reply leaves from the interrupt, not after a wake-up


def test_is_a_runaway_ash_removed_its_owner_told_and_the_kernel_goes_on() -> None:
    st, box, _ = echo_run(RUNAWAY, 2, library_echoes=2)
    assert box[0] == 1 and box[1] == []
    assert len(box[2]) == 1 and box[2][0][0] == 1 and "ran out of its budget" in box[2][0][1]
    assert (st.ash_runs, st.ash_removed) == (1, 1)  # the second datagram went straight to the ring


def test_is_a_raising_ash_removed_and_a_rejected_one_refused_readably() -> None:
    st, box, _ = echo_run(RAISES, 1, library_echoes=1)
    assert "raised ValueError: copy: this handler was given no buffer" in box[2][0][1]
    net = network(["aegis", "aegis"])
    out: list[Any] = []
    net.systems[0].start(ash_server("import os\ndef handler(pkt):\n    os.system('x')\n", out, 0))
    net.systems[0].start(ash_server("def handler(pkt):\n    pkt._drv.k.envs.clear()\n", out, 0, port=8))
    net.run()
    assert len(out) == 2 and all(o.startswith("EINVAL: ash_install: the verifier refused the handler") for o in out)
    assert any("import" in o for o in out) and any("'_drv'" in o for o in out), out
    assert [h for h in net.shutdown() if any(h.values())] == []

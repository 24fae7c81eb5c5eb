"""The disk (machine/disk.py): timing against the HP 97560 model computed here from the
documented constants, the queue, persistence in an image file, crash injection, bad input."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exospin.machine import HP97560, IRQ_DISK, Disk, DiskError, DiskFailed, Machine
from exospin.systems import boot

# Ruemmler & Wilkes 1994, table 1 (HP 97560), in seconds, written out again here
HEADS, SPT, RPM, SECTOR = 19, 72, 4002, 512
CONTROLLER, HEAD_SWITCH = Fraction(22, 10_000), Fraction(16, 10_000)
SLOT = Fraction(60, RPM * SPT)  # one sector passing under the head
TRACK_SKEW, CYL_SKEW = 8, 18


def seek_s(d: int) -> float:
    if d == 0:
        return 0.0
    return (3.24 + 0.400 * math.sqrt(d)) / 1000 if d < 383 else (8.00 + 0.008 * d) / 1000


def angle(c: int, h: int, j: int) -> int:
    """Where sector j of track (c, h) starts: one track skew per head switch, one
    cylinder skew per cylinder (19 heads: 18 head switches, then a cylinder)."""
    return (j + c * ((HEADS - 1) * TRACK_SKEW + CYL_SKEW) + h * TRACK_SKEW) % SPT


def expected_end(start: Fraction, sector: int, count: int, cyl: int = 0, head: int = 0) -> Fraction:
    """The model, computed independently: controller + seek + rotation + transfer (s)."""
    c, rem = divmod(sector, HEADS * SPT)
    h, j = divmod(rem, SPT)
    assert j + count <= SPT  # one track
    t = start + CONTROLLER
    if c != cyl:
        t += Fraction(seek_s(abs(c - cyl)))
    elif h != head:
        t += HEAD_SWITCH
    k = math.ceil(t / SLOT)  # the next sector boundary
    while k % SPT != angle(c, h, j):
        k += 1
    return (k + count) * SLOT


class Probe:
    """A bare machine with an interrupt vector that records when the disk interrupted."""

    def __init__(self, profile: str = "ds5000", **kw):
        self.m = Machine(profile)
        self.irqs: list[tuple[int, int]] = []
        p = self.m.profile
        self.entry = p.trap_entry + p.interrupt
        self.m.cpu.interrupt_vector = lambda irq: self.irqs.append((irq, self.m.loop.now - self.entry))
        self.disk = Disk(self.m, **kw)

    def run(self) -> None:
        while self.m.loop.skip_to_next():
            pass

    def drain(self) -> list:
        self.disk.ack()
        out = []
        while (c := self.disk.complete()) is not None:
            out.append(c)
        return out


def submit_cost(m: Machine) -> int:
    return 15 * m.profile.io_write


@pytest.mark.parametrize("profile", ["ds5000", "alpha3000"])
@pytest.mark.parametrize("sector,count", [(0, 1), (100 * HEADS * SPT + 3 * SPT + 10, 1),
                                           (700 * HEADS * SPT + 5, 16), (5 * SPT + 1, 8),
                                           (1962 * HEADS * SPT - 1, 1)])
def test_a_single_read_takes_the_models_time(profile, sector, count):
    pr = Probe(profile)
    m, hz = pr.m, pr.m.profile.clock_hz
    pr.disk.read(sector, count, pfn=3)
    start = Fraction(m.loop.now, hz)
    assert m.loop.now == submit_cost(m)
    pr.run()
    end = expected_end(start, sector, count)
    (irq, at), = pr.irqs
    assert irq == IRQ_DISK == pr.disk.irq
    assert at == math.ceil(end * hz)  # the first cycle at or after the last sector passed
    # the model's parts are each there: at least controller + seek, at most one revolution more
    c = sector // (HEADS * SPT)
    low = CONTROLLER + Fraction(seek_s(c)) + count * SLOT
    assert low <= end - start <= low + SPT * SLOT
    s = pr.disk.statistics()
    assert (s.seeks, s.seek_cylinders) == ((1, c) if c else (0, 0))
    assert abs(s.busy_us - float(end - start) * 1e6) < 1e-3


def test_the_seek_curve_is_the_papers_and_continuous_at_its_boundary():
    from exospin.machine import seek_ps
    for d in (1, 2, 100, 382, 383, 1000, 1961):
        assert seek_ps(d) == pytest.approx(seek_s(d) * 1e12, abs=1)
    assert seek_ps(0) == 0
    assert abs(seek_ps(383) - seek_ps(382)) < 0.2e9  # the two formulas meet (11.06 ms)
    assert HP97560.cylinders * HP97560.heads * HP97560.sectors_per_track * 512 == 1_374_216_192  # "1.3 GB"


def test_a_read_onto_the_next_track_loses_no_revolution():
    """The track skew (8 sectors, 1.67 ms) covers the head switch (1.6 ms): two whole tracks
    take two revolutions and eight sector times once the first sector is under the head."""
    pr = Probe()
    pr.disk.read(0, 2 * SPT, pfn=0)
    start = Fraction(pr.m.loop.now, pr.m.profile.clock_hz)
    pr.run()
    k = math.ceil((start + CONTROLLER) / SLOT)
    k += (-k) % SPT  # sector 0 of track (0, 0) is at angle 0
    end = (k + 2 * SPT + TRACK_SKEW) * SLOT
    assert pr.irqs[0][1] == math.ceil(end * pr.m.profile.clock_hz)
    assert pr.disk.statistics().head_switches == 1 and pr.disk.statistics().seeks == 0
    # and across a cylinder: the cylinder skew (18 sectors, 3.75 ms) covers a one-cylinder seek
    pr2 = Probe()
    last = HEADS * SPT - SPT  # the last track of cylinder 0
    pr2.disk.read(last, 2 * SPT, pfn=0)
    start = Fraction(pr2.m.loop.now, pr2.m.profile.clock_hz)
    pr2.run()
    k = math.ceil((start + CONTROLLER + HEAD_SWITCH) / SLOT)
    k += (angle(0, HEADS - 1, 0) - k) % SPT
    end = (k + 2 * SPT + CYL_SKEW) * SLOT
    assert pr2.irqs[0][1] == math.ceil(end * pr2.m.profile.clock_hz)
    assert pr2.disk.statistics().seeks == 1


def test_sequential_reads_do_not_seek():
    pr = Probe()
    base = 40 * HEADS * SPT
    for i in range(6):
        pr.disk.read(base + 8 * i, 8, pfn=i)
        pr.run()
        pr.drain()
    s = pr.disk.statistics()
    assert (s.seeks, s.seek_cylinders, s.reads, s.sectors_read) == (1, 40, 6, 48)
    pr.disk.read(0, 1, pfn=0)  # back to cylinder 0
    pr.run()
    assert pr.disk.statistics().seeks == 2 and pr.disk.statistics().seek_cylinders == 80


def test_the_queue_serves_in_order_and_each_request_after_the_last():
    pr = Probe()
    cyl = HEADS * SPT
    tags = [pr.disk.read(s, 1, pfn=i) for i, s in enumerate((500 * cyl, 10 * cyl, 900 * cyl, 20 * cyl))]
    assert pr.disk.statistics().queued == 3  # one in service
    pr.run()
    done = pr.drain()
    assert [c.tag for c in done] == tags and all(c.ok for c in done)
    assert pr.disk.statistics().seek_cylinders == 500 + 490 + 890 + 880
    assert len(pr.irqs) == 1  # the line stayed asserted until ack()


@pytest.mark.parametrize("policy,order", [("fcfs", [500, 10, 900, 20]), ("sstf", [500, 900, 20, 10]),
                                          ("clook", [500, 900, 10, 20])])
def test_the_queueing_policies(policy, order):
    pr = Probe(policy=policy)
    cyl = HEADS * SPT
    pr.m.loop.now = 0
    # the first request is taken at once; the others wait and the policy orders them
    for c in (500, 10, 900, 20):
        pr.disk.read(c * cyl, 1, pfn=0)
    pr.run()
    served = [c.sector // cyl for c in pr.drain()]
    assert served == order


def test_data_go_to_and_from_the_frames_named():
    pr = Probe()
    mem = pr.m.memory
    mem.span(7, 512, 1024)[:] = bytes(range(256)) * 4
    pr.disk.write(33, 2, pfn=7, offset=512)
    pr.run()
    pr.disk.read(33, 2, pfn=9, offset=4092)  # runs on into frame 10
    pr.disk.read(1000, 1, pfn=11)  # never written: zeros
    mem.span(11, 0, 512)[:] = b"\xff" * 512
    pr.run()
    assert bytes(mem.span(9, 4092, 1024)) == bytes(range(256)) * 4
    assert bytes(mem.span(11, 0, 512)) == bytes(512)
    assert [(c.op, c.ok) for c in pr.drain()] == [("write", True), ("read", True), ("read", True)]


def test_contents_persist_in_the_image_across_two_disks(tmp_path):
    img = tmp_path / "disk.img"
    pr = Probe(image=img, cylinders=2)
    assert img.stat().st_size == 2 * HEADS * SPT * SECTOR == pr.disk.size
    pr.m.memory.span(1, 0, 4096)[:] = b"exospin!" * 512
    pr.disk.write(HEADS * SPT + 3, 8, pfn=1)
    pr.run()
    pr.disk.close()
    again = Probe(image=img, cylinders=2)  # a new machine, as after a reboot
    again.disk.read(HEADS * SPT + 3, 8, pfn=4)
    again.disk.read(0, 1, pfn=6)
    again.m.memory.span(6, 0, 512)[:] = b"\x01" * 512
    again.run()
    assert bytes(again.m.memory.span(4, 0, 4096)) == b"exospin!" * 512
    assert bytes(again.m.memory.span(6, 0, 512)) == bytes(512)
    assert img.read_bytes()[(HEADS * SPT + 3) * SECTOR:][:8] == b"exospin!"


@pytest.mark.parametrize("n", [0, 1, 3])
def test_the_doom_counter_leaves_exactly_n_writes(tmp_path, n):
    img = tmp_path / "doom.img"
    pr = Probe(image=img, cylinders=1)
    pr.disk.fail_after_writes(n)
    for i in range(5):
        pr.m.memory.span(i, 0, 512)[:] = bytes([i + 1]) * 512
        if pr.disk.failed:
            with pytest.raises(DiskFailed, match="stopped"):
                pr.disk.write(10 * i, 1, pfn=i)
        else:
            pr.disk.write(10 * i, 1, pfn=i)
    pr.run()
    done = pr.drain()
    assert [c.ok for c in done] == [True] * n + [False] * (len(done) - n)
    assert all("stopped" in c.error for c in done if not c.ok)
    with pytest.raises(DiskFailed, match="stopped"):
        pr.disk.read(0, 1, pfn=0)
    s = pr.disk.statistics()
    assert s.stopped and s.writes == n and s.failed == len(done) - n
    pr.disk.close()
    data = img.read_bytes()
    for i in range(5):
        assert data[10 * i * SECTOR:10 * i * SECTOR + SECTOR] == (bytes([i + 1]) * 512 if i < n else bytes(512))


def test_the_doom_counter_counts_writes_not_reads():
    pr = Probe(cylinders=1)
    pr.disk.fail_after_writes(1)
    pr.disk.read(0, 1, pfn=0)
    pr.disk.write(1, 1, pfn=0)
    pr.disk.read(2, 1, pfn=0)
    pr.run()
    assert [(c.op, c.ok) for c in pr.drain()] == [("read", True), ("write", True), ("read", False)]


def _story(policy: str):
    pr = Probe(policy=policy, cylinders=300)
    rng = __import__("random").Random(7)
    for i in range(30):
        s = rng.randrange(pr.disk.sectors - 16)
        (pr.disk.write if i % 3 else pr.disk.read)(s, rng.randint(1, 16), pfn=i)
        if i % 4 == 0:
            pr.run()
    pr.run()
    return pr.irqs, [(c.tag, c.sector) for c in pr.drain()], pr.disk.statistics(), pr.m.loop.now


@pytest.mark.parametrize("policy", ["fcfs", "sstf", "clook"])
def test_determinism(policy):
    assert _story(policy) == _story(policy)


def test_bad_requests_are_refused_and_change_nothing():
    pr = Probe(cylinders=2)
    d, m = pr.disk, pr.m
    d.read(0, 1, pfn=0)  # one in service, so the queue state is visible
    before = (m.loop.now, d.statistics().queued, d.requests)
    bad = [
        (dict(sector=d.sectors - 1, count=2, pfn=0), "not on the disk"),
        (dict(sector=-1, count=1, pfn=0), "not on the disk"),
        (dict(sector=0, count=0, pfn=0), "0 sectors"),
        (dict(sector=0, count=1, pfn=0, offset=2), "multiple of 4"),
        (dict(sector=0, count=1, pfn=m.memory.nframes), "not in memory"),
        (dict(sector=0, count=16, pfn=m.memory.nframes - 1, offset=512), "not in memory"),
        (dict(sector=0, count=9, pfn=5, frames={5}), "frame 6, which is not the requester's"),
        (dict(sector=0, count=1, pfn=4, frames={5}), "frame 4"),
        (dict(sector=0, count=True, pfn=0), "count must be an int"),
        (dict(sector=0.0, count=1, pfn=0), "sector must be an int"),
    ]
    for kw, why in bad:
        for op in (d.read, d.write):
            with pytest.raises(DiskError, match=why):
                op(**kw)
    assert (m.loop.now, d.statistics().queued, d.requests) == before
    assert d.statistics().refused == 2 * len(bad)
    d.write(0, 8, pfn=5, frames={5, 6})  # the requester's own frames: accepted
    full = Probe(queue_depth=2)
    for _ in range(3):  # one in service, two waiting
        full.disk.read(0, 1, pfn=0)
    with pytest.raises(DiskError, match="queue is full"):
        full.disk.read(0, 1, pfn=0)


def test_bad_images_and_options_are_refused(tmp_path):
    img = tmp_path / "short.img"
    img.write_bytes(b"x" * 1000)
    with pytest.raises(DiskError, match="has 1000 bytes; a hp97560 of 1962 cylinders has 1374216192"):
        Disk(Machine(), image=img)
    m = Machine()
    with pytest.raises(DiskError, match="has 1000 bytes"):
        Disk(m, image=img)
    assert img.read_bytes() == b"x" * 1000 and m.disks == []
    with pytest.raises(DiskError, match="not a regular file"):
        Disk(m, image=tmp_path)
    with pytest.raises(DiskError, match="No such file"):
        Disk(m, image=tmp_path / "no" / "such.img")
    for kw, why in ((dict(cylinders=0), "cylinders"), (dict(cylinders=1963), "cylinders"),
                    (dict(policy="elevator"), "unknown queueing policy"), (dict(queue_depth=0), "queue_depth")):
        with pytest.raises(DiskError, match=why):
            Disk(m, **kw)
    d = Disk(m)
    for n in (-1, 1.5, None):
        with pytest.raises(DiskError, match="fail_after_writes"):
            d.fail_after_writes(n)


def test_boot_attaches_a_disk_whose_interrupt_reaches_the_kernels_handler(tmp_path):
    for name in ("aegis", "spin", "unix"):
        s = boot(name, disk=True)
        disk, = s.machine.disks
        seen: list[int] = []
        s.kernel.irq_handlers[disk.irq] = seen.append
        disk.read(0, 1, pfn=0)
        while s.machine.loop.skip_to_next() and not seen:
            pass
        assert seen == [IRQ_DISK] and disk.ack() == 1 and disk.complete().ok
    s = boot("unix", disk=tmp_path / "u.img")
    assert s.machine.disks[0].image == tmp_path / "u.img" and (tmp_path / "u.img").exists()
    assert boot("unix").machine.disks == []


def test_a_driver_may_start_the_next_request_from_the_interrupt():
    """The usual driver: on each interrupt, take the completions and submit the next request
    (while others wait in the queue); each is served once, in order, back to back."""
    pr = Probe()
    d, seen = pr.disk, []
    todo = list(range(10, 16))

    def interrupt(irq):
        d.ack()
        while (c := d.complete()) is not None:
            seen.append(c.sector)
        if todo:
            d.read(todo.pop(0) * 8, 8, pfn=1)

    pr.m.cpu.interrupt_vector = interrupt
    d.read(0, 8, pfn=0)
    d.read(8, 8, pfn=0)  # waits in the queue
    pr.run()
    interrupt(IRQ_DISK)  # the last one's completion, taken after the run
    assert seen == [0, 8, 80, 88, 96, 104, 112, 120]
    assert d.statistics().reads == 8 and d.statistics().queued == 0


def test_a_driver_cannot_slip_a_write_past_the_doom_counter():
    pr = Probe(cylinders=1)
    d, refused = pr.disk, []

    def interrupt(irq):
        d.ack()
        try:
            d.write(50, 1, pfn=0)
        except DiskFailed as e:
            refused.append(str(e))

    pr.m.cpu.interrupt_vector = interrupt
    d.fail_after_writes(1)
    d.write(0, 1, pfn=0)
    pr.run()
    assert d.statistics().writes == 1 and refused and "after its 1st write" in refused[0]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 2 * HEADS * SPT - 40), st.integers(1, 40)),
                min_size=1, max_size=12), st.booleans())
def test_a_read_returns_what_was_last_written(ops, on_image):
    """Against a plain model of the contents: any mix of reads and writes, spanning tracks and
    cylinders, in memory or in an image file."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        pr = Probe(cylinders=2, image=f"{tmp}/d.img" if on_image else None)
        model = bytearray(pr.disk.size)
        mem = pr.m.memory
        for i, (write, sector, count) in enumerate(ops):
            n = count * SECTOR
            if write:
                data = bytes((i * 7 + k) % 251 for k in range(n))
                mem.span(0, 0, n)[:] = data
                pr.disk.write(sector, count, pfn=0)
                pr.run()
                model[sector * SECTOR:sector * SECTOR + n] = data
            else:
                pr.disk.read(sector, count, pfn=20)
                pr.run()
                assert bytes(mem.span(20, 0, n)) == bytes(model[sector * SECTOR:sector * SECTOR + n])
        assert all(c.ok for c in pr.drain())
        pr.disk.close()


def test_a_disk_is_blank_until_an_image_that_exists_is_opened(tmp_path):
    m = Machine("ds5000")
    assert Disk(m, cylinders=1).blank  # in memory
    img = tmp_path / "d.img"
    with Disk(Machine("ds5000"), image=img, cylinders=1) as d:
        assert d.blank  # the file was just created
    with Disk(Machine("ds5000"), image=img, cylinders=1) as d:
        assert not d.blank  # a file system must mount it, never format it unasked


def test_mkfs_without_a_disk_is_refused():
    with pytest.raises(ValueError, match="mkfs names what to do with a disk"):
        boot("unix", mkfs=True)

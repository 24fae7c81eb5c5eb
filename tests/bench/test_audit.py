"""The Python audit (bench/audit.py): what it counts, what it leaves out, and that it only measures."""

from __future__ import annotations

import dis

import greenlet

from exospin.bench import audit, harness, unix_suite
from exospin.bench.audit import Audit, Ops, in_scope, weigh
from exospin.machine import get_profile
from exospin.spin import extensions as spin_extensions
from exospin.systems import boot
from exospin.unix import kernel as unix_kernel
from exospin.verifier import OpCosts, verify


def unpack(packed: int) -> tuple[float, float, float]:
    """(calls, memory references, instructions)"""
    o = audit.unpack(packed)
    return o.calls, o.mem_refs, o.insns


def first_line(fn: object) -> int:
    """The weight of the first line of ``fn``'s body, entered at its start."""
    code = fn.__code__  # type: ignore[attr-defined]
    w = weigh(code)
    line = code.co_firstlineno + 1
    start = min(off for off, _, ln in code.co_lines() if ln == line)
    return w[start]


def test_does_a_line_cost_its_calls_memory_references_and_operations() -> None:
    def f(o: object, i: int) -> int:
        return o.table[i] + len(o.rows)  # type: ignore[attr-defined]

    # two attributes and one item read, one call (len), one addition
    assert unpack(first_line(f)) == (1, 3, 1)


def test_is_a_loop_iteration_its_body_plus_advance_and_branch() -> None:
    def g(xs: list[int]) -> int:
        s = 0
        for x in xs:
            s += x
        return s

    code = g.__code__
    w = weigh(code)
    before = {ln: off for off, _, ln in reversed(list(code.co_lines()))}  # first offset of each line
    body = before[code.co_firstlineno + 3]
    # the body's line: the addition and the jump back; the header re-entered: FOR_ITER
    assert unpack(w[body]) == (0, 0, 2)
    advance = next(i.offset for i in dis.get_instructions(code) if i.opname == "FOR_ITER")
    assert unpack(w[advance]) == (0, 0, 1)


def test_are_the_verifiers_budget_ticks_left_out() -> None:
    src = "def h(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n"
    v = verify(src, "h.py", costs=OpCosts(1, 2, 4))
    code = v.exports["h"].__code__
    calls = [unpack(x)[0] for x in weigh(code).values()]
    assert max(calls) == 0  # the instrumented function calls only __budget__: not counted


def test_is_system_software_in_scope_and_the_rest_not() -> None:
    assert in_scope(unix_kernel.Unix.__init__.__code__)
    assert not in_scope(harness.Timer.measure.__code__)  # the benchmark
    assert not in_scope(get_profile.__code__)  # the machine
    assert not in_scope(test_is_system_software_in_scope_and_the_rest_not.__code__)


def test_does_it_count_each_system_call_alike() -> None:
    s = boot("spin", "ds5000")
    k = s.kernel
    k.load(spin_extensions.source("null_syscall"), "null_syscall.py")
    k.syscall(0)
    a = Audit()
    counts = []
    for n in (10, 20):
        a.start()
        for _ in range(n):
            k.syscall(0)
        counts.append(a.stop())
    ten, twenty = counts
    assert ten.calls > 0 and ten.mem_refs > 0
    assert twenty == Ops(2 * ten.calls, 2 * ten.mem_refs, 2 * ten.insns)


def _suspended(log: list[int]) -> None:
    main = greenlet.getcurrent().parent
    main.switch()
    log.append(1)  # a line of a frame that was suspended when the audit started
    log.append(2)


def test_does_it_trace_frames_suspended_in_greenlets_and_new_ones() -> None:
    here = _suspended.__code__.co_filename
    a = Audit(scope=lambda code: code.co_filename == here and code.co_name.startswith("_"))
    log: list[int] = []
    early = greenlet.greenlet(_suspended)
    early.switch(log)  # suspended before the audit starts
    a.start()
    early.switch()
    late = greenlet.greenlet(_suspended)
    late.switch(log)
    late.switch()
    got = a.stop()
    # the suspended frame: its two appends (a call and an attribute each); the new one
    # runs whole: getcurrent().parent (a call, two attributes), main.switch() (a call,
    # an attribute) and the two appends. Were the suspended frame not traced: (4, 5)
    assert (got.calls, got.mem_refs) == (2 + 4, 2 + 5)


def test_does_the_audit_leave_simulated_time_alone_and_repeat_exactly() -> None:
    plain = unix_suite.BENCHMARKS["ipc_pipe"][0]("ds5000", 50)
    with harness.auditing():
        one = unix_suite.BENCHMARKS["ipc_pipe"][0]("ds5000", 50)
        two = unix_suite.BENCHMARKS["ipc_pipe"][0]("ds5000", 50)
    assert plain.py_cycles is None and "py_cycles" not in plain.as_dict()
    assert one.sim_cycles == two.sim_cycles == plain.sim_cycles
    assert one.py_cycles == two.py_cycles and one.py_cycles is not None and one.py_cycles > 0
    assert one.as_dict()["py_cycles"] == round(one.py_cycles, 2)


def test_are_the_applications_instructions_left_to_the_machine() -> None:
    from exospin import posix
    from exospin.exos import proc as exos_proc

    assert not in_scope(posix.load.__code__) and not in_scope(posix._p.__code__)
    assert not in_scope(exos_proc.ExOS.store.__code__)
    assert in_scope(posix.fork.__code__)  # a system call's stub is system software

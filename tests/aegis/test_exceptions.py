"""Exceptions go straight to the environment's own handler, and only there."""

from __future__ import annotations

from helpers import run_in_env


def test_does_each_environment_get_its_own_overflow_handler(system):
    seen: list[tuple[str, int]] = []

    def program(tag, answer):
        def main(sys):
            me = sys.env_id()

            def overflow(result):
                seen.append((tag, sys.env_id()))
                assert sys.env_id() == me
                return answer

            sys.set_handler("overflow", overflow)
            got = []
            for _ in range(3):
                got.append(sys.cpu.add(0x7FFF_FFFF, 1))
                sys.yield_()
            return got
        return main

    box = {}
    system.kernel.create_env(lambda s: box.setdefault("a", program("a", 111)(s)), "a", 1)
    system.kernel.create_env(lambda s: box.setdefault("b", program("b", 222)(s)), "b", 1)
    system.run()
    assert box == {"a": [111] * 3, "b": [222] * 3}
    assert sorted(seen) == [("a", 1)] * 3 + [("b", 2)] * 3


def test_what_if_an_environment_has_no_handler_for_an_exception(system):
    done = []

    def careless(sys):
        sys.cpu.add(0x7FFF_FFFF, 1)
        done.append("careless")

    def careful(sys):
        sys.set_handler("overflow", lambda r: 0)
        sys.yield_()
        sys.cpu.add(0x7FFF_FFFF, 1)
        done.append("careful")

    a = system.kernel.create_env(careless, "careless", 1)
    b = system.kernel.create_env(careful, "careful", 1)
    system.run()
    assert done == ["careful"]
    assert system.kernel.deaths[a] == "unhandled overflow exception: no handler registered"
    assert system.kernel.deaths[b] == "exited"


def test_does_an_unhandled_fault_name_the_address(system):
    def wild(sys):
        sys.cpu.load(0x00AB_C000)

    def unaligned(sys):
        sys.cpu.store(0x1002, 1)

    a = system.kernel.create_env(wild, "wild", 1)
    b = system.kernel.create_env(unaligned, "unaligned", 1)
    system.run()
    assert system.kernel.deaths[a] == "unhandled tlb_miss exception at 0xabc000: no handler registered"
    assert system.kernel.deaths[b] == "unhandled address_error exception at 0x1002: no handler registered"


def test_what_if_a_handler_faults_inside_itself_forever(system):
    def recursive(sys):
        sys.set_handler("address_error", lambda vaddr, write, value: sys.cpu.load(vaddr))
        sys.cpu.load(0x1001)

    a = system.kernel.create_env(recursive, "recursive", 1)
    system.run()
    assert system.kernel.deaths[a].startswith("exceptions nested 8 deep in its handlers")


def test_what_if_a_tlb_miss_handler_never_maps_the_page(system):
    # The access faults again and again; the timer must still preempt it, so
    # the other environment runs and the run ends at its time limit.
    done = []

    def stubborn(sys):
        sys.set_handler("tlb_miss", lambda vaddr, write: None)
        sys.cpu.load(0x4000)

    def other(sys):
        sys.cpu.compute(100)
        done.append(system.machine.now)

    system.kernel.create_env(stubborn, "stubborn", 1)
    system.kernel.create_env(other, "other", 1)
    system.run(until_us=5_000)
    assert done, "the other environment never ran"
    assert system.machine.now >= system.machine.profile.cycles_for_us(5_000)


def test_what_if_a_protection_handler_never_fixes_the_page(system):
    done = []

    def stubborn(sys):
        cap = sys.frame_alloc(50)
        sys.tlb_write(0x4000, cap, False)
        sys.set_handler("protection", lambda vaddr: None)  # neither unprotects nor skips
        sys.cpu.store(0x4000, 1)

    def other(sys):
        sys.cpu.compute(100)
        done.append(True)

    system.kernel.create_env(stubborn, "stubborn", 1)
    system.kernel.create_env(other, "other", 1)
    system.run(until_us=5_000)
    assert done


def test_does_trap_reflect_unknown_system_calls_to_the_library_os(system):
    def body(sys):
        sys.set_handler("syscall", lambda number, args: ("emulated", number, args))
        before = system.kernel.statistics().exceptions
        r = sys.trap(42, "a", 1)
        return r, system.kernel.statistics().exceptions - before

    assert run_in_env(system, body) == (("emulated", 42, ("a", 1)), 1)


def test_what_if_an_environment_raises_a_python_exception(system):
    def buggy(sys):
        sys.frame_alloc(60)
        raise KeyError("oops")

    a = system.kernel.create_env(buggy, "buggy", 1)
    system.run()
    assert system.kernel.deaths[a] == "died: KeyError: 'oops'"
    assert system.kernel.statistics().frames_owned == 0


def test_does_exit_record_the_reason(system):
    a = system.kernel.create_env(lambda sys: sys.exit("had enough"), "quitter", 1)
    b = system.kernel.create_env(lambda sys: sys.exit(3), "three", 1)
    c = system.kernel.create_env(lambda sys: 7, "seven", 1)
    system.run()
    assert system.kernel.deaths[a] == "exited: had enough"
    assert system.kernel.deaths[b] == "exited with status 3"
    assert system.kernel.deaths[c] == "exited with status 7"

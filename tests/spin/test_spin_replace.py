"""Replacing a loaded SPIN extension at run time: the new version in its place, its
dependents linked against it again; a version that cannot take the place changes nothing."""

from __future__ import annotations

import pytest

from exospin.spin import ExtensionFailed, LinkError
from exospin.systems import boot
from exospin.verifier import Rejected

#: version 1: counts by one; system call 20 answers the count
COUNTER_V1 = '''from spin import Trap

total = [0]


def bump(number, args):
    total[0] = total[0] + 1
    return total[0]


def count():
    return total[0]


def install():
    Trap.claim(20, bump)
'''

#: version 2: counts by ten, from its own module state (nothing is carried over)
COUNTER_V2 = COUNTER_V1.replace("total[0] + 1", "total[0] + 10")

#: a dependent: system call 21 answers what the counter's count() says, times 100
REPORTER = '''from spin import Trap
from spin.tally import count


def report(number, args):
    return count() * 100


def install():
    Trap.claim(21, report)
'''


@pytest.fixture
def spin():
    system = boot("spin")
    k = system.kernel
    counter = k.load(COUNTER_V1, "tally.py")
    reporter = k.load(REPORTER, "reporter.py")
    assert [k.syscall(20) for _ in range(3)] == [1, 2, 3] and k.syscall(21) == 300
    return system, counter, reporter


def test_does_the_new_version_take_the_place_and_the_dependent_follow(spin) -> None:
    system, old, reporter = spin
    k = system.kernel
    new = k.replace(old, COUNTER_V2)
    assert k.syscall(20) == 10  # the new code, from its own state: nothing carried over
    assert k.syscall(21) == 1000  # the dependent calls the new version's count()
    assert reporter.resolved and reporter.sources.count(new) == 1 and old not in reporter.sources
    assert new in k.extensions and old not in k.extensions
    assert k.extensions.index(new) < k.extensions.index(reporter)  # in the old one's place
    assert k.unloaded[-1] == ("tally", "replaced by a new version (tally.py)")
    assert k.names.lookup("spin.tally", reporter) is new
    assert k.check_invariants() == []


@pytest.mark.parametrize("source, error, match", [
    (COUNTER_V1.replace("total[0] + 1", "total.__class__"), Rejected, "E101"),
    (COUNTER_V1.replace("def count():\n    return total[0]\n", ""), LinkError, "spin.tally.count"),
    ("from spin import Nowhere\n\ndef install():\n    return Nowhere\n", LinkError, "spin.Nowhere"),
])
def test_does_a_version_that_cannot_take_the_place_change_nothing(spin, source, error, match) -> None:
    system, old, reporter = spin
    k = system.kernel
    installs = k.dispatcher.statistics().installs
    with pytest.raises(error, match=match):
        k.replace(old, source)
    assert old in k.extensions and reporter.resolved and old in reporter.sources
    assert k.syscall(20) == 4 and k.syscall(21) == 400  # the old one, its state intact
    assert k.dispatcher.statistics().installs == installs  # nothing of the new one ran
    assert k.check_invariants() == []


def test_is_the_old_version_put_back_when_the_new_one_fails_to_install(spin) -> None:
    system, old, reporter = spin
    k = system.kernel
    broken = COUNTER_V2.replace("    Trap.claim(20, bump)\n", "    Trap.claim(20, bump)\n    return 1 // 0\n")
    with pytest.raises(ExtensionFailed, match="ZeroDivisionError"):
        k.replace(old, broken)
    assert old in k.extensions and reporter.resolved
    assert k.syscall(20) == 4  # the old version again, with its module state as it was
    assert k.syscall(21) == 400
    assert [why for _, why in k.unloaded[-2:]] == [
        "replaced by a new version (tally.py)", "install() failed: ZeroDivisionError: integer division or modulo by zero"]
    assert k.check_invariants() == []


def test_what_if_replace_is_asked_for_what_is_not_there(spin) -> None:
    system, old, reporter = spin
    k = system.kernel
    with pytest.raises(LinkError, match="would export spin.other, not spin.tally"):
        k.replace(old, COUNTER_V2, "other.py")
    k.unload(reporter, "done with it")
    with pytest.raises(LinkError, match="'reporter' is not a loaded extension"):
        k.replace(reporter, REPORTER)
    assert k.syscall(20) == 4


def test_does_a_replaced_extension_release_its_system_calls_to_the_new_one(spin) -> None:
    system, old, _ = spin
    k = system.kernel
    handlers = len(k.Trap.handlers)
    for _ in range(5):
        old = k.replace(old, COUNTER_V1)
    assert k.syscall(20) == 1 and k.syscall(21) == 100
    assert len(k.Trap.handlers) == handlers  # one handler each for 20 and 21: none leaked
    assert [e.name for e in k.extensions].count("tally") == 1


@pytest.mark.parametrize("call, args, error, match", [
    ("replace", (None, COUNTER_V2), LinkError, "NoneType None is not a loaded extension"),
    ("replace", ("tally", COUNTER_V2), LinkError, "str 'tally' is not a loaded extension"),
    ("replace", ("old", None), TypeError, "tally.py: the extension must be Python source .str., not NoneType"),
    ("replace", ("old", COUNTER_V2, 5), TypeError, "the file name must be a non-empty str, not 5"),
    ("load", (b"def f():\n    return 1\n", "f.py"), TypeError, "f.py: the extension must be Python source"),
    ("load", ("def f():\n    return 1\n", ""), TypeError, "the file name must be a non-empty str"),
])
def test_is_a_bad_argument_refused_by_name_with_nothing_changed(spin, call, args, error, match) -> None:
    system, old, _ = spin
    k = system.kernel
    args = tuple(old if a == "old" else a for a in args)
    with pytest.raises(error, match=match):
        getattr(k, call)(*args)
    assert k.syscall(20) == 4 and k.syscall(21) == 400 and len(k.extensions) == 2


def test_can_a_shipped_extension_be_replaced_under_the_unix_personality() -> None:
    """xas, which unix_as links against, replaced between two runs of a posix program:
    unix_as is relinked to the new version and the program runs the same."""
    from exospin.apps import APPS
    from exospin.spin import extensions as shipped

    system = boot("spin")
    k = system.kernel
    first = system.start(APPS["primes"], ["30"], "primes")
    system.run()
    unix_as = next(e for e in k.extensions if e.name == "unix_as")
    old = next(e for e in k.extensions if e.name == "xas")
    new = k.replace(old, shipped.source("xas"))
    assert unix_as.resolved and new in unix_as.sources and old not in unix_as.sources
    second = system.start(APPS["primes"], ["30"], "primes")
    system.run()
    assert system.exit_status(first) == system.exit_status(second) == 0
    assert k.check_invariants() == [] and not any(system.shutdown().values())

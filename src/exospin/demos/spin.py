"""``exospin demo spin``: extensions verified, linked into the kernel and run on events.

The story:

* SPIN boots with its dispatcher, its name server, and the SpinPublic and
  SpinPrivileged interfaces.
* A **null system call** extension is verified, becomes a domain, and is
  linked against ``spin.Trap``; its ``install()`` claims system call 0 on
  the system-call event (an equality guard the dispatcher indexes). A trap
  then costs the hardware's entry and return plus one dispatch: a procedure
  call into verified code.
  (Every extension of the story claims its numbers: a handler behind a
  guard of its own runs only on numbers its domain claimed, docs/spin.md,
  "Authority and isolation". So the counter moved from system call 1, which
  the Unix extension also claims, to 30.)
* A **counter** extension handles system call 30 with state of its own;
  then a second version **replaces** it at run time (``Spin.replace``):
  verified and linked first, put in the first one's place, system call 30
  handed over; it starts from its own state.
* A **frames** extension hands user space a physical frame: user space
  gets an index into its table of references, never the frame; the index
  comes back and is internalised; a forged one is refused (EBADF).
* A **snooping** extension, which climbs from its argument to the kernel's
  globals, is rejected by the verifier: it never runs, and the kernel says
  why, line by line.
* A **greedy** extension asks for ``spin.Dispatcher``, a privileged
  interface; the name server's authorisation procedure refuses it.
* A **runaway** extension loops for ever in its handler. Its budget runs out
  on the first raise: the dispatcher terminates the handler and the kernel
  unloads the extension, and the kernel and the other extensions go on.
* The **Unix personality**: the Appel-Li and cross-address-space extensions,
  then unix_as linked against them, make strands and address spaces into
  Unix processes: ``primes``, a chain of processes over pipes written
  against exospin.posix, runs on SPIN unchanged.
* A **thief** tries to claim a system-call number the Unix extension owns:
  the trap's authority refuses, and the thief is unloaded.

Nothing in the story is drawn at random, so the demo takes no seed. Its
machine is the SPIN paper's DEC 3000/400 AXP.

Interface: ``DEMO`` (a ``demos.Demo``): ``DEMO.run(seed, profile, trace_path)
-> SpinReport`` (the seed changes nothing), ``DEMO.render(report, console)``;
``story(profile, trace) -> SpinDemo`` is the story alone, on a live system.
The extensions' sources (``NULL``, ``COUNTER``, ``FRAMES``, ...) are the
tests' too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from ..apps import APPS
from ..machine import Profile
from ..spin import ExtensionFailed, LinkError, NoSuchSyscall, Spin, SpinStats
from ..systems import SpinSystem, boot
from ..verifier import Rejected
from .base import Demo, Ending, counters, finish, print_table, render_end

NULL = '''
from spin import Trap


def handler(number, args):
    return 0


def install():
    return Trap.claim(0, handler)
'''

COUNTER = '''
from spin import Trap

calls = [0]


def handler(number, args):
    calls[0] = calls[0] + 1
    return calls[0]


def install():
    return Trap.claim(30, handler)
'''

SNOOP = '''
import os
from spin import Trap


def handler(number, args):
    kernel = args.__class__.__init__.__globals__
    return type(args), kernel
'''

GREEDY = '''
from spin.Dispatcher import statistics


def handler(number, args):
    return statistics()
'''

RUNAWAY = '''
from spin import Trap


def handler(number, args):
    n = 0
    while True:
        n = n + 1


def install():
    return Trap.claim(9, handler)
'''


FRAMES = '''
from spin import Errors, PhysAddr, Trap, User


def grab(number, args):
    return PhysAddr.allocate()


def alive(number, args):
    return args[0].live


def give_back(number, args):
    frame = User.internalize(args[0])
    if Errors.failed(frame):
        return frame
    PhysAddr.deallocate(frame)
    User.revoke(args[0])
    return 0


def install():
    Trap.claim(60, grab)
    Trap.claim(61, alive, refs=(0,))
    Trap.claim(62, give_back)
'''


THIEF = '''
from spin import Trap


def steal(number, args):
    return (0, 0)


def install():
    Trap.claim(4, steal)
'''


@dataclass
class SpinDemo:
    kernel: Spin
    system: SpinSystem
    lines: list[tuple[str, str]] = field(default_factory=list)  # (who, text)
    ok: bool = True


def story(profile: str = "alpha3000", trace: bool = False, seed: int = 0) -> SpinDemo:
    system = boot("spin", profile, seed=seed, trace=trace)
    k: Spin = system.kernel
    m = system.machine
    demo = SpinDemo(k, system)

    def say(who: str, text: str) -> None:
        demo.lines.append((who, text))

    d = k.load(NULL, "null.py")
    say("spin", f"linked {d.name}: imports {', '.join(d.imports)} resolved against SpinPublic; handler installed on Trap")
    n = 1000
    c0 = m.now
    results = {k.syscall(0) for _ in range(n)}
    per = (m.now - c0) / n
    say("null_syscall", f"{n} null system calls answered {results}; {per:.0f} cycles = {m.us(per):.3f} µs each "
                        f"(trap entry and return, one dispatch)")
    k.load(COUNTER, "counter.py")
    counts = [k.syscall(30) for _ in range(3)]
    say("counter", f"system call 30 three times: {counts} (its own state, in its own domain)")
    old = next(e for e in k.extensions if e.name == "counter")
    k.replace(old, COUNTER.replace("calls[0] + 1", "calls[0] + 10"))
    counts2 = [k.syscall(30) for _ in range(2)]
    say("counter", f"replaced at run time by a version counting in tens: system call 30 twice: {counts2} "
                   f"(the new version's own state; the old one is unloaded)")
    demo.ok = demo.ok and counts2 == [10, 20]
    k.load(FRAMES, "frames.py")
    ref = k.syscall(60)
    alive = k.syscall(61, ref)
    forged = k.syscall(61, ref + 41)
    gone = k.syscall(62, ref)
    stale = k.syscall(61, ref)
    say("frames", f"system call 60 handed out a frame as reference {ref!r}, an index into the caller's "
                  f"table; 61 took the index back and was given the frame: live={alive}")
    say("frames", f"a forged index {ref + 41}: {getattr(forged, 'errno', forged)} "
                  f"({getattr(forged, 'message', '')}); after 62 gave the frame back ({gone}), "
                  f"{ref}: {getattr(stale, 'errno', stale)} ({getattr(stale, 'message', '')})")
    demo.ok = (demo.ok and type(ref) is int and alive is True and gone == 0
               and getattr(forged, "errno", "") == getattr(stale, "errno", "") == "EBADF")
    try:
        k.load(SNOOP, "snoop.py")
        demo.ok = False
        say("spin", "snoop.py was accepted: it should not have been")
    except Rejected as e:
        for v in e.violations:
            say("verifier", f"snoop.py:{v.line}:{v.col}: {v.code} {v.message}")
        say("spin", "snoop.py rejected: none of it ran")
    try:
        k.load(GREEDY, "greedy.py")
        demo.ok = False
        say("spin", "greedy.py was linked against a privileged interface: it should not have been")
    except LinkError as e:
        say("names", f"greedy.py refused: {e}")
    unloaded = len(k.unloaded)
    k.load(RUNAWAY, "runaway.py")
    try:
        k.syscall(9)
        demo.ok = False
    except NoSuchSyscall:
        pass
    for event, handler, why in k.dispatcher.log:
        say("dispatcher", f"terminated {handler} on {event}: {why}")
    for name, why in k.unloaded[unloaded:]:
        say("spin", f"unloaded {name}: {why}")
    after = k.syscall(0)
    say("spin", f"the kernel goes on: system call 0 still answers {after}; system call 9 now has no handler")
    demo.ok = demo.ok and after == 0 and counts == [1, 2, 3] and results == {0}

    # the Unix personality: processes made of strands and address spaces
    before = k.statistics()
    pid = system.start(APPS["primes"], ["50"], "primes")
    for ext in k.extensions[-3:]:
        say("spin", f"linked {ext.name}: imports {', '.join(ext.imports)}")
    c0 = m.now
    system.run()
    status = system.exit_status(pid)
    st = k.statistics()
    say("primes", f"the sieve of Eratosthenes as a chain of processes over pipes, written against "
                  f"exospin.posix, ended with status {status} in {m.us(m.now - c0):.0f} µs")
    say("unix_as", f"{st.scheduler.strands_created - before.scheduler.strands_created} strands in as many "
                   f"address spaces, {st.syscalls - before.syscalls} system calls, "
                   f"{st.memory.pages_not_present} demand-zero and "
                   f"{st.memory.protection_faults} copy-on-write faults, "
                   f"{st.scheduler.switches - before.scheduler.switches} strand switches")
    try:
        k.load(THIEF, "thief.py")
        demo.ok = False
    except ExtensionFailed as e:
        say("trap", f"thief.py refused: {e}")
    demo.ok = demo.ok and status == 0
    return demo


@dataclass(frozen=True)
class SpinReport:
    """What ``run`` saw: the story's lines and the kernel's counters before shutdown."""

    profile: Profile
    story: SpinDemo
    now: int  # the clock at the end of the story, in cycles
    kernel: SpinStats
    end: Ending


def run(seed: int, profile: str, trace_path: Path | None) -> SpinReport:
    """Tell the story, read the counters, end the run (the seed is the machine's, and unused)."""
    d = story(profile=profile, trace=trace_path is not None, seed=seed)
    st = d.kernel.statistics()
    end = finish(d.system, trace_path, ok=d.ok, why="the demo did not go as it should;",
                 held="frame, address space and strand")
    return SpinReport(d.system.machine.profile, d, d.system.machine.now, st, end)


def render(r: SpinReport, out: Console) -> None:
    """Who said what, line by line, and the kernel's counters."""
    out.print(f"[bold]exospin demo spin[/bold]: SPIN on {r.profile.description}")
    out.print("Extensions are verified, linked against the interfaces they may use, and run on events.\n")
    for who, text in r.story.lines:
        out.print(f"  [bold]{who:<12}[/bold] {text}", soft_wrap=True)
    st = r.kernel
    ds = st.dispatcher
    print_table(out, counters("what the kernel saw", [
        ("extensions linked", st.extensions),
        ("system calls (Trap raises)", st.syscalls),
        ("handlers run / guards evaluated", f"{ds.handlers_run} / {ds.guards_evaluated}"),
        ("handlers terminated", ds.terminated),
        ("simulated time", f"{r.profile.us(r.now):.1f} µs"),
    ]))
    if r.story.ok:
        out.print("Every extension that ran was verified; the rejected ones never ran; the runaway and "
                  "the thief were unloaded.")
    render_end(r.end, out)


#: On the SPIN paper's DEC 3000/400; nothing in the story is drawn from a seed.
DEMO: Demo[SpinReport] = Demo("spin", "alpha3000", False, run, render)

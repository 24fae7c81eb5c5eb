"""The messages environments pass one another on a switch of the processor.

What this models
    The few words a real Aegis leaves in registers when it moves the processor
    from one environment to another (Engler et al., section 5: time slices,
    directed yield and protected control transfer): why the environment that
    now runs was resumed, and, for a protected control transfer, what to call
    and what came back.

Why it is built this way
    Each environment is a greenlet; a greenlet switch carries one value, and
    these are the values. They live in a leaf module because both the kernel
    (which switches, slices.py) and the system calls (which start transfers
    and read replies, syscalls.py) need them, and neither may import the other.
    The tuples without a payload are compared by identity (``msg is STOP``),
    so each is one object made here; ``PCT``, ``RET`` and ``FAIL`` are the
    first items of tuples built per transfer.

Interface
    ``RESUME_SLICE``, ``RESUME_DONATED``, ``STOP``; ``PCT``, ``RET``, ``FAIL``.
"""

RESUME_SLICE = ("slice",)  # the start of one of your time slices
RESUME_DONATED = ("donated",)  # the rest of someone else's slice
PCT = "pct"  # ("pct", caller, fn, args, sync)
RET = "ret"  # ("ret", value): reply to a synchronous PCT
FAIL = "fail"  # ("fail", message): the callee died
STOP = ("stop",)  # to the root: run() returns

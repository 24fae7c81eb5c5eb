"""primes: the sieve of Eratosthenes as a chain of processes connected by pipes.

Each process reads numbers from its left neighbour; the first is a prime,
which it reports; it forks a right neighbour and passes on the numbers its
prime does not divide (McIlroy's construction, in the style of the JOS and
xv6 labs). A child closes the descriptors it inherited but must not hold
(above all the write end of its own input), or end-of-file never comes. Returns 0 if the primes reported are the primes up to ``argv[0]``
(default 100).
"""

from __future__ import annotations

from .. import posix

WORD = 4


def _recv(fd: int) -> int | None:
    b = b""
    while len(b) < WORD:
        chunk = posix.read(fd, WORD - len(b))
        if not chunk:
            return None
        b += chunk
    return int.from_bytes(b, "little")


def _sieve(left: int, report: int, stale: list[int]) -> int:
    for fd in stale:  # descriptors inherited from the parent that this process must not hold open
        posix.close(fd)
    p = _recv(left)
    if p is None:
        return 0
    posix.write(report, p.to_bytes(WORD, "little"))
    r, w = posix.pipe()
    child = posix.fork(_sieve, r, report, [w, left])
    posix.close(r)
    while (n := _recv(left)) is not None:
        if n % p:
            posix.write(w, n.to_bytes(WORD, "little"))
    posix.close(w)
    posix.close(left)
    _, status = posix.wait(child)
    return status


def main(argv: list[str]) -> int:
    limit = int(argv[0]) if argv else 100
    rep_r, rep_w = posix.pipe()
    r, w = posix.pipe()
    child = posix.fork(_sieve, r, rep_w, [w, rep_r])
    posix.close(r)
    posix.close(rep_w)
    for n in range(2, limit + 1):
        posix.write(w, n.to_bytes(WORD, "little"))
    posix.close(w)
    found = []
    while (p := _recv(rep_r)) is not None:
        found.append(p)
    _, status = posix.wait(child)
    want = [n for n in range(2, limit + 1) if all(n % d for d in range(2, int(n**0.5) + 1))]
    return 0 if status == 0 and found == want else 1

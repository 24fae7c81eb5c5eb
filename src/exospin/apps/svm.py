"""Shared virtual memory across machines (Li's IVY, as Appel and Li describe it), and a Jacobi
relaxation run on it.

What this is
    N processes, one per machine of a ``systems.network``, share a region of
    ``pages`` pages: each maps the region and the protection of each page
    says what that node may do with it (none, read, read and write). Every
    page has one *owner* (the node that last wrote it) and a *copy set* (the
    nodes holding a read-only copy, kept by the owner), as in Li and Hudak's
    "Memory coherence in shared virtual memory systems" (TOCS 1989), whose
    *fixed distributed manager* algorithm this is: page p is managed by node
    p mod N (``manager="distributed"``), or every page by node 0
    (``manager="central"``, their improved centralized manager). The manager
    knows each page's owner and serialises the requests for it.

    * A **read fault** (a load from a page the node has no copy of) asks the
      page's manager, which forwards the request to the owner; the owner
      drops its own access to read-only, adds the reader to the copy set and
      sends the page; the reader installs it read-only and tells the manager
      it is done (the manager then serves the page's next request).
    * A **write fault** asks the manager, which forwards to the owner; the
      owner gives up the page (its access to none) and sends it with its copy
      set (without the data if the writer is in the copy set: its copy is
      current); the writer invalidates every copy (each holder drops its
      access and acknowledges), takes ownership with read and write access,
      and tells the manager, which records the new owner.

    A page (4 KB on the ds5000, 8 KB on the alpha3000) travels as several
    UDP datagrams of at most ``posix.UDP_MAX_PAYLOAD`` bytes (a 12-byte header
    and whole words of the page). A message to the node itself is a call, not
    a datagram: only what crosses the network is counted.

    The primitives are Appel and Li's (ASPLOS 1991, section 2): TRAP
    (``posix.on_fault``), PROT1 and UNPROT (``posix.mprotect``) and MAP2
    (``posix.alias``: each page is mapped a second time, read and write, and
    the runtime copies a page into or out of the frame through that second
    mapping while the program's own mapping forbids access). Every word of a
    page moves through ``posix.load`` and ``posix.store``, as a bcopy into or
    out of a message buffer does, so each system pays its own cost of
    touching memory; the sockets, the protection changes and the faults are
    each system's own (ExOS' library stack and Aegis' exception path; SPIN's
    protocol extensions and protection-fault event through its Unix
    personality; unix' kernel sockets, ``mprotect`` and SIGSEGV).

Why it is built this way
    Requests must be served while the node's program computes. Each node
    runs a *server thread* that blocks in ``posix.poll`` on the node's socket
    while the program's thread runs (every system's threads allow one thread
    to block in a socket call while another computes: tests/apps/test_svm.py
    checks this on each, and how soon a blocked thread runs when its datagram
    arrives is each thread package's own: ExOS' and unix' within a fraction
    of a millisecond, SPIN's Unix personality at the computing thread's next
    quantum). The server is the only reader of the socket; the program's
    thread, in its fault handler or a barrier, sends its request and waits
    on a condition variable that the server signals when the answer has
    come. Every handler of a message runs under one mutex and never blocks,
    so a request to the node itself is handled inline. The server also
    watches the time: a fault or a barrier not answered within
    ``timeout_us`` (a machine stopped answering, or a datagram was lost)
    ends the program with :class:`SvmError`, naming the page and its
    manager, not a hang. The protocol retransmits nothing: the simulated
    Ethernet loses no frame unless a receiver's buffers overflow, and at
    most one page (up to six datagrams) and 2 N small messages are ever in
    flight to one node.

    The barrier is central: every node tells node 0 it has arrived, and node
    0 tells every node to go once all have.

The program
    ``jacobi(hosts, size, iterations, out, ...)``: a ``size`` x ``size`` grid
    of integers, the top row held at ``HOT`` and the other edges at 0, each
    inner point replaced by the mean of its four neighbours (integer, ``>>
    2``), ``iterations`` times, between two grids (read one, write the
    other). Node k computes the rows [k size/N, (k+1) size/N): it reads the
    boundary row of each neighbour's block (a read fault when that page
    changed hands) and writes its own (a write fault when a neighbour holds a
    copy). Each node first writes its own rows of both grids (taking their
    pages), then all meet at a barrier; the measured phase is from there to
    the barrier after the last iteration. Node 0 then reads the whole result
    (which :func:`reference`, a plain sequential run, must equal), and all
    meet at a last barrier before closing.

Interface
    ``Svm(hosts, me, pages, manager, port, timeout_us)``: one node's runtime
    (``start()``, ``base``, ``barrier()``, ``reset_statistics()``,
    ``statistics()``, ``close()``). ``jacobi(...) -> program`` (``main(argv)``,
    ``argv[0]`` the node's index), which writes its figures into ``out``
    (``out[i]`` for node i: :class:`NodeFigures` as a dict; ``out["result"]``
    the final grid) and returns 0, or 2 after an :class:`SvmError` (its
    message in ``out[i]["error"]``). ``reference(size, iterations)``;
    ``MANAGERS``, ``PORT``, ``HOT``.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .. import posix

MANAGERS = ("distributed", "central")
#: The UDP port every node's runtime listens on.
PORT = 7100
#: A fault or barrier not answered within this long (µs of simulated time) ends the program.
#: A choice, not a measurement: some hundred times the slowest fault seen (a page behind a
#: queue of requests, each waiting for a 10 ms quantum on SPIN).
TIMEOUT_US = 2_000_000.0
#: A page that arrives for a fault stays at least until the program's thread has retried its
#: access: until the thread's next fault or barrier, or this long (µs), whichever comes first
#: (Mirage's Delta, Fleisch and Popek, SOSP 1989). Without it the server could give the page
#: away between the handler's return and the retry: the access faults again, and SPIN's
#: Appel-Li extension ends the program as one whose handler fixed nothing. A choice, not a
#: measurement: far longer than a retry takes, short against a fault's milliseconds.
HOLD_US = 2_000.0
#: Until every peer has answered, the server says hello to those that have not this often (µs):
#: a hello sent before the peer's socket is bound is lost, and so is all but the last datagram
#: sent to a machine whose address is not resolved yet (4.4BSD's ARP holds one), so no page
#: moves before this exchange has been made with every peer.
HELLO_US = 10_000.0
#: How often the server thread wakes to look at the time when no datagram comes (µs).
POLL_US = 20_000.0
#: The temperature of the grid's top row (fixed point: every value stays below it).
HOT = 1 << 16
#: Instructions of one grid point beyond its four loads and its store: three adds, the
#: shift, and the index arithmetic of five addresses (our count of a compiled inner loop).
POINT_INSNS = 8
#: The most nodes a copy set (a 32-bit mask in the header) can name.
MAX_NODES = 32
#: A sender whose datagram is refused (ENOBUFS: the interface's queue is full) spins this long (µs)
#: and sends again (not in poll: its socket may hold a datagram, and poll would return at once).
BACKOFF_US = 200.0

# the messages (the header's first byte)
_RREQ, _WREQ, _FWD, _PAGE, _INV, _ACK, _CONFIRM, _ARRIVE, _GO, _HELLO = range(1, 11)
_NAMES = {_RREQ: "read request", _WREQ: "write request", _FWD: "forwarded request", _PAGE: "page",
          _INV: "invalidation", _ACK: "acknowledgement", _CONFIRM: "confirmation", _ARRIVE: "barrier arrival",
          _GO: "barrier release", _HELLO: "hello"}
#: type, source node, requester, write (0/1), chunk index, chunk count, page, aux (copy set or epoch)
_HEADER = struct.Struct("<BBBBBBHI")

_NONE, _READ, _WRITE = 0, 1, 2
_PROT = {_NONE: posix.PROT_NONE, _READ: posix.PROT_READ, _WRITE: posix.PROT_RW}


class SvmError(Exception):
    """A node of the shared memory could not go on: no answer in time, or a protocol violation."""


@dataclass(frozen=True)
class NodeFigures:
    """What one node measured (µs of simulated time, counts), over the measured phase."""

    node: int
    elapsed_us: float  # the measured phase, on this node's clock
    read_faults: int
    write_faults: int
    read_fault_us: float  # the mean time in the fault handler, per read fault
    write_fault_us: float
    messages: int  # protocol messages this node sent over the network (a page is one)
    datagrams: int  # the UDP datagrams they took
    pages_sent: int  # pages whose data this node sent
    served: int  # requests this node's server handled (as manager, owner or copy holder)
    error: str  # "" if the run went through


class Svm:
    """One node's runtime: the region, the protocol, the server thread.

    Call ``start()`` in the node's process (it maps the region, binds the socket, installs
    the fault handler and starts the server), then use the region at ``base``; end with
    ``close()`` (after a last ``barrier()``, so that no node still needs this one's pages).
    Every ``_``-method that handles a message must be called with ``self.lock`` held.
    """

    def __init__(self, hosts: list[str], me: int, pages: int, manager: str = "distributed",
                 port: int = PORT, timeout_us: float = TIMEOUT_US) -> None:
        check(hosts, pages, manager, timeout_us)
        if not (type(me) is int and 0 <= me < len(hosts)):
            raise ValueError(f"svm: node {me!r} is not one of the {len(hosts)} nodes")
        self.hosts, self.me, self.n, self.pages = list(hosts), me, len(hosts), pages
        self.central = manager == "central"
        self.port, self.timeout_us = port, timeout_us
        self.base = 0
        self.fd = -1

    # ------------------------------------------------------------ the node's life

    def start(self) -> None:
        """Map the region (each page owned by its manager, demand-zero), its second mapping,
        the socket; install the fault handler and start the server thread."""
        self.page = posix.page_size()
        self.ws = posix.word_size()
        self.words = self.page // self.ws
        self.codec = struct.Struct(f"<{(posix.UDP_MAX_PAYLOAD - _HEADER.size) // self.ws}{'I' if self.ws == 4 else 'Q'}")
        self.chunk_words = self.codec.size // self.ws
        self.base = posix.mmap(self.pages)
        for p in range(self.pages):  # a frame under every page, so that it can be aliased
            posix.store(self.base + p * self.page, 0)
        self.alias = [posix.alias(self.base + p * self.page) for p in range(self.pages)]
        self.access = [_NONE] * self.pages
        self.owner = [False] * self.pages
        self.copyset = [0] * self.pages  # the owner's: a mask of nodes with a read-only copy
        for p in range(self.pages):
            if self._manager(p) == self.me:
                self.access[p], self.owner[p] = _WRITE, True
            else:
                posix.mprotect(self.base + p * self.page, 1, posix.PROT_NONE)
        # the manager's: each managed page's owner, the request it is serving, those waiting
        self.m_owner = {p: self.me for p in range(self.pages) if self._manager(p) == self.me}
        self.m_busy: dict[int, tuple[int, bool]] = {}
        self.m_queue: dict[int, deque[tuple[int, bool]]] = {}
        # the requester's: the page being received (page, write, chunks seen) and the acks awaited
        self.incoming: dict[int, list[int]] = {}
        self.acks: dict[int, int] = {}
        self.expect: set[int] = set()  # pages a fault here waits for
        self.done: set[int] = set()  # of those, the ones answered, for the waiting thread
        self.pinned: dict[int, float] = {}  # page -> until when it stays (HOLD_US)
        self.deferred: list[bytes] = []  # requests for pinned pages, in the order they came
        self.arrived: dict[int, int] = {}  # node 0: epoch -> nodes arrived
        self.epoch = self.released = 0
        self.greeted = 1 << self.me  # the nodes that answered this one's hello (a mask)
        self.waiting: tuple[str, float] | None = None  # what the program waits for, and since when
        self.error: SvmError | None = None
        self.stopping: float | None = None  # when close() began
        self.lock = posix.mutex()
        self.cond = posix.condition(self.lock)
        self.fd = posix.socket()
        posix.bind(self.fd, ("0.0.0.0", self.port))
        self.reset_statistics()
        posix.on_fault(self._fault)
        self.server = posix.thread_create(self._serve)
        with self.lock:  # every peer's socket bound, and the addresses resolved both ways
            self._wait(lambda: self.greeted == (1 << self.n) - 1, "hello (every node's socket bound)")

    def close(self) -> None:
        """Stop the server (once no request this node manages is in progress) and let go of
        the socket, the handler and the region."""
        with self.lock:
            self.stopping = posix.time_us()
        posix.thread_join(self.server)
        posix.on_fault(None)
        posix.close(self.fd)
        posix.munmap(self.base, self.pages)

    def reset_statistics(self) -> None:
        """Start counting afresh (the measured phase)."""
        self.n_faults = [0, 0]
        self.fault_us = [0.0, 0.0]
        self.messages = self.datagrams = self.pages_sent = self.served = 0

    def statistics(self, elapsed_us: float) -> NodeFigures:
        r, w = self.n_faults
        return NodeFigures(self.me, round(elapsed_us, 4), r, w, round(self.fault_us[0] / max(r, 1), 4),
                           round(self.fault_us[1] / max(w, 1), 4), self.messages, self.datagrams,
                           self.pages_sent, self.served, "" if self.error is None else str(self.error))

    # ------------------------------------------------------- the program's thread

    def _manager(self, p: int) -> int:
        return 0 if self.central else p % self.n

    def _fault(self, vaddr: int, write: bool) -> None:
        """The fault handler: ask for the page (a copy, or ownership), wait until it is here."""
        p = (vaddr - self.base) // self.page
        if not 0 <= p < self.pages:
            raise SvmError(f"node {self.me}: a fault at {vaddr:#x}, outside the shared region")
        t0 = posix.time_us()
        need = _WRITE if write else _READ
        with self.lock:
            self._unpin(None)  # the last fault's access was retried: its page may go
            if self.access[p] >= need:  # answered meanwhile (the page came back): retry
                return
            self.done.discard(p)
            self.expect.add(p)
            self._send(self._manager(p), _WREQ if write else _RREQ, p, requester=self.me, write=write)
            self._wait(lambda: p in self.done,
                       f"a {'write' if write else 'read'} fault on page {p} (its manager is node {self._manager(p)})")
        self.n_faults[write] += 1
        self.fault_us[write] += posix.time_us() - t0

    def barrier(self) -> None:
        """Wait until every node has called ``barrier`` as often as this one."""
        with self.lock:
            self._unpin(None)
            self.epoch += 1
            e = self.epoch
            self._send(0, _ARRIVE, 0, aux=e)
            self._wait(lambda: self.released >= e, f"barrier {e} (node 0 releases it)")

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        """Wait on the condition until ``ready()``; SvmError if the server saw the time run out."""
        self.waiting = (what, posix.time_us())
        try:
            while not ready():
                if self.error is not None:
                    raise self.error
                self.cond.wait()
        finally:
            self.waiting = None

    # ------------------------------------------------------------- the server

    def _serve(self) -> int:
        while True:
            try:
                if self._serve_one():
                    return 0
            except SvmError as e:  # the program's thread learns of it at its next wait
                with self.lock:
                    self.error = self.error or e
                    self.cond.broadcast()

    def _serve_one(self) -> bool:
        """Serve one datagram (or a time-out); True when the server is done."""
        fd, biggest = self.fd, posix.UDP_MAX_PAYLOAD
        wait = POLL_US
        if self.greeted != (1 << self.n) - 1 and self.error is None:  # hello (again) to every node not heard from
            with self.lock:
                for node in range(self.n):
                    if not self.greeted >> node & 1:
                        self._send(node, _HELLO, 0)
            wait = HELLO_US
        if self.pinned:
            wait = max(1.0, min(wait, min(self.pinned.values()) - posix.time_us()))
        if posix.poll([fd], wait):
            data, _peer = posix.recvfrom(fd, biggest)
            with self.lock:
                self.served += 1
                self._dispatch(data)
        with self.lock:
            if self.pinned:
                self._unpin(posix.time_us())
            if self.waiting is not None and self.error is None and \
                    posix.time_us() - self.waiting[1] > self.timeout_us:
                self.error = SvmError(f"node {self.me}: no answer to {self.waiting[0]} within "
                                      f"{self.timeout_us / 1000:.0f} ms: a machine stopped answering")
                self.cond.broadcast()
            if self.stopping is not None and (not self.m_busy or self.error is not None or
                                              posix.time_us() - self.stopping > self.timeout_us):
                return True
        return False

    def _send(self, dst: int, kind: int, p: int, requester: int = 0, write: bool = False, aux: int = 0,
              data: bytes = b"", chunk: int = 0, chunks: int = 0) -> None:
        """Send one message to node ``dst``: a datagram, or a call when ``dst`` is this node."""
        msg = _HEADER.pack(kind, self.me, requester, int(write), chunk, chunks, p, aux) + data
        if dst == self.me:
            self._dispatch(msg)
            return
        to = (self.hosts[dst], self.port)
        while True:
            try:
                posix.sendto(self.fd, msg, to)
                break
            except posix.PosixError as e:
                if e.errno != "ENOBUFS":
                    raise SvmError(f"node {self.me}: cannot reach node {dst} at {to[0]}: {e}") from None
                t = posix.time_us()  # spin a while: the interface drains its queue meanwhile
                while posix.time_us() - t < BACKOFF_US:
                    posix.compute(100)
        self.datagrams += 1
        if chunk == 0:
            self.messages += 1

    def _dispatch(self, msg: bytes) -> None:
        if len(msg) < _HEADER.size:
            raise SvmError(f"node {self.me}: a datagram of {len(msg)} bytes is no message")
        kind, src, req, write, chunk, chunks, p, aux = _HEADER.unpack_from(msg)
        if not 0 <= p < self.pages or kind not in _NAMES:
            raise SvmError(f"node {self.me}: a malformed message (type {kind}, page {p}) from node {src}")
        if kind in (_FWD, _INV) and p in self.pinned:  # the program has not retried yet: later
            self.deferred.append(msg)
            return
        if kind in (_RREQ, _WREQ):
            self._request(p, req, kind == _WREQ)
        elif kind == _FWD:
            self._serve_owner(p, req, bool(write))
        elif kind == _PAGE:
            self._receive(p, bool(write), aux, chunk, chunks, msg[_HEADER.size:])
        elif kind == _INV:
            self._invalidate(p, src)
        elif kind == _ACK:
            self._acked(p, src)
        elif kind == _CONFIRM:
            self._confirmed(p, req, bool(write))
        elif kind == _ARRIVE:
            self._arrive(aux)
        elif kind == _HELLO:  # aux 0: a hello, answered; 1: the answer
            if aux == 0:
                self._send(src, _HELLO, 0, aux=1)
            else:
                self.greeted |= 1 << src
                self.cond.broadcast()
        else:  # _GO
            self.released = max(self.released, aux)
            self.cond.broadcast()

    # the manager
    def _request(self, p: int, req: int, write: bool) -> None:
        if self._manager(p) != self.me:
            raise SvmError(f"node {self.me}: a request for page {p}, which node {self._manager(p)} manages")
        if p in self.m_busy:  # one request per page at a time: this one waits its turn
            self.m_queue.setdefault(p, deque()).append((req, write))
            return
        self.m_busy[p] = (req, write)
        self._send(self.m_owner[p], _FWD, p, requester=req, write=write)

    def _confirmed(self, p: int, req: int, write: bool) -> None:
        if self.m_busy.get(p) != (req, write):
            raise SvmError(f"node {self.me}: a confirmation for page {p} from node {req}, which it is not serving")
        del self.m_busy[p]
        if write:
            self.m_owner[p] = req
        q = self.m_queue.get(p)
        if q:
            self._request(p, *q.popleft())

    # the owner
    def _serve_owner(self, p: int, req: int, write: bool) -> None:
        if not self.owner[p]:
            raise SvmError(f"node {self.me}: asked for page {p}, which it does not own")
        if not write:  # a copy: this node keeps the page read-only, the reader joins the copy set
            if self.access[p] == _WRITE:
                self._protect(p, _READ)
            self.copyset[p] |= 1 << req
            self._send_page(p, req, False, 0, with_data=True)
            return
        others = self.copyset[p] & ~(1 << req)
        current = req == self.me or bool(self.copyset[p] >> req & 1)  # the writer's copy is current
        if req != self.me:  # ownership leaves: no access here any more
            self.owner[p] = False
            self.copyset[p] = 0
            self._protect(p, _NONE)
            others &= ~(1 << self.me)
        self._send_page(p, req, True, others, with_data=not current)

    def _send_page(self, p: int, to: int, write: bool, copyset: int, with_data: bool) -> None:
        if not with_data:
            self._send(to, _PAGE, p, write=write, aux=copyset)
            return
        src, ws, cw = self.alias[p], self.ws, self.chunk_words
        chunks = -(-self.words // cw)
        for c in range(chunks):
            first = c * cw
            n = min(cw, self.words - first)
            words = [posix.load(src + (first + i) * ws) for i in range(n)]  # the bcopy to the buffer
            data = self.codec.pack(*words) if n == cw else struct.pack(f"<{n}{self.codec.format[-1]}", *words)
            self._send(to, _PAGE, p, write=write, aux=copyset, data=data, chunk=c, chunks=chunks)
        if to != self.me:
            self.pages_sent += 1

    # the requester
    def _receive(self, p: int, write: bool, copyset: int, chunk: int, chunks: int, data: bytes) -> None:
        if p not in self.expect:
            raise SvmError(f"node {self.me}: page {p} arrived, but no fault on it waits")
        if chunks:
            got = self.incoming.setdefault(p, [0])
            ws, dst = self.ws, self.alias[p] + chunk * self.chunk_words * self.ws
            fmt = self.codec if len(data) == self.codec.size else struct.Struct(f"<{len(data) // ws}{self.codec.format[-1]}")
            for i, v in enumerate(fmt.unpack(data)):  # the bcopy from the buffer into the frame
                posix.store(dst + i * ws, v)
            got[0] += 1
            if got[0] < chunks:
                return
            del self.incoming[p]
        if not write:
            self._protect(p, _READ)
            self._finish(p, False)
            return
        self.copyset[p] = 0
        self.owner[p] = True
        if copyset == 0:
            self._owned(p)
            return
        self.acks[p] = copyset
        for node in range(self.n):
            if copyset >> node & 1:
                self._send(node, _INV, p)

    def _invalidate(self, p: int, writer: int) -> None:
        if self.owner[p]:
            raise SvmError(f"node {self.me}: told by node {writer} to drop page {p}, which it owns")
        self._protect(p, _NONE)
        self._send(writer, _ACK, p)

    def _acked(self, p: int, node: int) -> None:
        left = self.acks.get(p, 0)
        if not left >> node & 1:
            raise SvmError(f"node {self.me}: an unexpected acknowledgement for page {p} from node {node}")
        left &= ~(1 << node)
        if left:
            self.acks[p] = left
        else:
            del self.acks[p]
            self._owned(p)

    def _owned(self, p: int) -> None:
        self._protect(p, _WRITE)
        self._finish(p, True)

    def _unpin(self, now: float | None) -> None:
        """Let go of the pages pinned until ``now`` (None: every one), then serve the
        requests that waited for them."""
        gone = [p for p, until in self.pinned.items() if now is None or until <= now]
        if not gone:
            return
        for p in gone:
            del self.pinned[p]
        waiting, self.deferred = self.deferred, []
        for msg in waiting:  # (a request for a page still pinned is deferred again)
            self._dispatch(msg)

    def _finish(self, p: int, write: bool) -> None:
        self.expect.discard(p)
        self.pinned[p] = posix.time_us() + HOLD_US
        self.done.add(p)
        self._send(self._manager(p), _CONFIRM, p, requester=self.me, write=write)
        self.cond.broadcast()

    def _protect(self, p: int, access: int) -> None:
        if self.access[p] != access:
            posix.mprotect(self.base + p * self.page, 1, _PROT[access])
            self.access[p] = access

    # the barrier (node 0)
    def _arrive(self, epoch: int) -> None:
        if self.me != 0:
            raise SvmError(f"node {self.me}: a barrier arrival, but node 0 keeps the barrier")
        k = self.arrived.get(epoch, 0) + 1
        if k < self.n:
            self.arrived[epoch] = k
            return
        self.arrived.pop(epoch, None)
        for node in range(self.n):
            self._send(node, _GO, 0, aux=epoch)


def check(hosts: list[str], pages: int, manager: str, timeout_us: float) -> None:
    """Refuse a configuration the runtime cannot run, with the reason (ValueError)."""
    if not isinstance(hosts, list | tuple) or not 1 <= len(hosts) <= MAX_NODES or \
            not all(isinstance(h, str) and h.count(".") == 3 for h in hosts):
        raise ValueError(f"svm: hosts must be 1 to {MAX_NODES} dotted IPv4 addresses, not {hosts!r}")
    if type(pages) is not int or not 1 <= pages <= 0xFFFF:
        raise ValueError(f"svm: pages must be an int from 1 to 65535, not {pages!r}")
    if manager not in MANAGERS:
        raise ValueError(f"svm: unknown manager {manager!r} (known: {', '.join(MANAGERS)})")
    if not (isinstance(timeout_us, int | float) and timeout_us > 0):
        raise ValueError(f"svm: timeout_us must be a positive number of µs, not {timeout_us!r}")


# ------------------------------------------------------------------ the program


def reference(size: int, iterations: int) -> list[int]:
    """The Jacobi relaxation run sequentially in plain Python: the grid ``jacobi`` must end with."""
    a = [[HOT if i == 0 else 0 for _ in range(size)] for i in range(size)]
    b = [row[:] for row in a]
    for _ in range(iterations):
        for i in range(1, size - 1):
            up, row, down, out = a[i - 1], a[i], a[i + 1], b[i]
            for j in range(1, size - 1):
                out[j] = (up[j] + down[j] + row[j - 1] + row[j + 1]) >> 2
        a, b = b, a
    return [v for row in a for v in row]


def grid_pages(size: int, page_words: int) -> int:
    """Pages of one grid of ``size`` x ``size`` words (each grid starts on a page)."""
    return -(-size * size // page_words)


def jacobi(hosts: list[str], size: int, iterations: int, out: dict[Any, Any], manager: str = "distributed",
           timeout_us: float = TIMEOUT_US, work: int = 0) -> Callable[[list[str]], int]:
    """The program each node runs (``argv[0]``: its index into ``hosts``); ``work`` more
    instructions per grid point (a heavier relaxation), 0 by default."""
    n = len(hosts) if isinstance(hosts, list | tuple) else 0
    check(hosts, 1, manager, timeout_us)
    if type(size) is not int or size < 3 or size % n:
        raise ValueError(f"jacobi: size must be an int >= 3 that the {n} nodes divide, not {size!r}")
    if type(iterations) is not int or iterations < 1:
        raise ValueError(f"jacobi: iterations must be an int >= 1, not {iterations!r}")
    if type(work) is not int or work < 0:
        raise ValueError(f"jacobi: work must be an int >= 0, not {work!r}")

    def main(argv: list[str]) -> int:
        me = int(argv[0])
        ws = posix.word_size()
        gp = grid_pages(size, posix.page_size() // ws)
        node = Svm(hosts, me, 2 * gp, manager, timeout_us=timeout_us)
        load, store, compute = posix.load, posix.store, posix.compute
        rw = size * ws
        lo, hi = me * size // n, (me + 1) * size // n
        t0 = 0.0
        try:
            node.start()
            grids = (node.base, node.base + gp * posix.page_size())
            for g in grids:  # each node writes its rows of both grids first: it takes their pages
                for i in range(lo, hi):
                    row = g + i * rw
                    for j in range(size):
                        store(row + j * ws, HOT if i == 0 else 0)
            node.barrier()
            node.reset_statistics()
            t0 = posix.time_us()
            insns = POINT_INSNS + work
            for t in range(iterations):
                src, dst = grids[t % 2], grids[1 - t % 2]
                for i in range(max(lo, 1), min(hi, size - 1)):
                    up, row, down, to = src + (i - 1) * rw, src + i * rw, src + (i + 1) * rw, dst + i * rw
                    for j in range(1, size - 1):
                        o = j * ws
                        store(to + o, (load(up + o) + load(down + o) + load(row + o - ws) + load(row + o + ws)) >> 2)
                        compute(insns)
                node.barrier()
            elapsed = posix.time_us() - t0
            figures = node.statistics(elapsed)
            if me == 0:  # the result, read (faulting) from wherever it is: outside the measured phase
                g = grids[iterations % 2]
                out["result"] = [load(g + k * ws) for k in range(size * size)]
            node.barrier()
        except SvmError as e:
            node.error = node.error or e
            figures = node.statistics(posix.time_us() - t0 if t0 else 0.0)
            out[me] = asdict(figures)
            node.close()
            return 2
        out[me] = asdict(figures)
        node.close()
        return 0

    main.__name__ = f"svm_jacobi_n{n}"
    return main


__all__ = ["HOT", "MANAGERS", "PORT", "POINT_INSNS", "NodeFigures", "Svm", "SvmError", "check", "grid_pages",
           "jacobi", "reference"]

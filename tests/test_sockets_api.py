"""The posix socket interface before the stacks: addresses from network(), ENOSYS where no stack is."""

from __future__ import annotations

import pytest

from exospin import posix
from exospin.net import FrameError, host_ip
from exospin.systems import boot, network


def test_does_network_give_each_machine_its_interface_and_address() -> None:
    net = network(["aegis", "unix"])
    try:
        got = [(s.iface.index, s.iface.ip, s.iface.mac) for s in net.systems]
        assert got == [(0, "10.0.0.1", net.nics[0].mac), (1, "10.0.0.2", net.nics[1].mac)]
        assert net.nics[0].mac != net.nics[1].mac
    finally:
        net.shutdown()
    assert boot("unix").iface is None  # a single machine has no interface
    with pytest.raises(FrameError, match="no host address"):
        host_ip(254)


def test_is_a_socket_call_on_a_system_without_a_stack_a_readable_enosys() -> None:
    import contextvars

    class NoStack:  # a process of a system whose network stack does not exist
        pass

    def call() -> str:
        posix.bind_process(NoStack())  # type: ignore[arg-type]
        try:
            posix.socket()
        except posix.PosixError as e:
            return e.errno
        return "no error"

    assert contextvars.copy_context().run(call) == "ENOSYS"

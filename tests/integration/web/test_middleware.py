"""Request ids (service.web.middleware): unique across the workers a fork makes."""

from __future__ import annotations

import os


def test_created_request_ids_are_unique_across_a_fork() -> None:
    """A forked worker gets its own random prefix, so two workers never share an id."""
    from service.web.middleware import _new_id

    first, second = _new_id(), _new_id()
    assert first[:16] == second[:16] and int(second[16:], 16) == int(first[16:], 16) + 1
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id, then leave at once
        os.write(write_end, _new_id().encode())
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child) == 32 and child[:16] != first[:16]
    assert child[16:] == "0" * 16  # the child's counter starts again

"""The fork hook every store uses to drop the parent's connections in a child."""

from __future__ import annotations

import gc
import os
import weakref

from backburner.stores.forks import on_fork_in_child


class _Owner:
    state = "parent's"


def _forget(owner: _Owner) -> None:
    owner.state = "child's"


def test_a_reset_runs_in_the_child_only_and_does_not_keep_its_owner_alive() -> None:
    owner = _Owner()
    on_fork_in_child(owner, _forget)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child reports what it sees, then leaves without pytest's teardown
        try:
            os.write(write, owner.state.encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 64) == b"child's"
    assert owner.state == "parent's"
    os.close(read)
    os.close(write)
    ref = weakref.ref(owner)
    del owner
    gc.collect()
    assert ref() is None

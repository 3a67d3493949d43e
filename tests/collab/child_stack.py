"""For tests that crash pycrdt in a child process on purpose: CPython's usual native stack."""

import resource


def default_stack() -> None:
    """preexec_fn: the child starts with an 8 MiB native stack, whatever this process raised
    (rlimits are inherited, and importing config.asgi raises them: collab/native_stack.py)."""
    limit = resource.getrlimit(resource.RLIMIT_STACK)[1]
    resource.setrlimit(resource.RLIMIT_STACK, (8 << 20, limit))

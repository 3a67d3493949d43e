"""A large native stack for the server's threads: defence in depth against deep CRDT values."""

import logging
import resource
import threading

logger = logging.getLogger(__name__)

# pycrdt/yrs recurse natively over nested values and types: on CPython's default 8 MiB
# they overflow (SIGSEGV, the whole process) at a few ten thousand levels. The update guard
# and the depth map keep every document under COLLAB_MAX_UPDATE_DEPTH (128); these sizes
# put the crash ~30x further away, should a path ever miss them. Only touched pages use
# memory: the rest is address space.
MAIN_STACK_BYTES = 256 << 20
THREAD_STACK_BYTES = 64 << 20


def raise_native_stack(
    main_bytes: int = MAIN_STACK_BYTES, thread_bytes: int = THREAD_STACK_BYTES
) -> None:
    """Let the main thread's stack grow to ``main_bytes`` (within the hard limit; Linux grows
    it on demand) and give threads started from now on ``thread_bytes`` each."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
        target = main_bytes if hard == resource.RLIM_INFINITY else min(main_bytes, hard)
        if soft != resource.RLIM_INFINITY and soft < target:
            resource.setrlimit(resource.RLIMIT_STACK, (target, hard))
        threading.stack_size(thread_bytes)
    except (ValueError, OSError) as exc:
        # A platform or container that refuses: run with the defaults, and say so.
        logger.warning("could not raise the native stack size: %s", exc)

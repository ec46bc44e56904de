"""The Dask cluster: opening one (a LocalCluster) or reaching one by its scheduler's address, and small reductions on it.

:func:`dask_client` opens the cluster (or connects to one) and turns a missing ``distributed``
package or a lost worker into one clear error.  :func:`connect_scheduler` reaches a scheduler by
its address within :data:`CONNECT_TIMEOUT_S`, or says which of these it is: an address of no form
Dask knows, nothing answering there, a server that does not speak Dask's protocol, or a Dask
server that is no scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from lmstats.errors import LmstatsError
from lmstats.resources import work_dir

CONNECT_TIMEOUT_S = 5  # connecting to a scheduler (reaching it, its greeting, its first answer) succeeds or fails within about this


# -- the cluster ---------------------------------------------------------------------------------
@contextlib.contextmanager
def dask_client(scheduler=None, *, workers: int | None = None, local_directory: str | Path | None = None) -> Iterator:
    """A ``distributed.Client``: ``scheduler`` is a client (used as it is), an address such as
    ``tcp://host:8786`` (connected to within :data:`CONNECT_TIMEOUT_S`, see :func:`connect_scheduler`),
    or None for a LocalCluster of ``workers`` (default: one per core) single-threaded worker processes.
    The workers manage their memory as Dask does (a LocalCluster shares the machine's RAM equally
    among them and spills to ``local_directory`` past 60% of their share); ``--memory`` bounds this
    process, which gathers the tables."""
    distributed = _distributed()
    from distributed.comm import CommClosedError

    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet("distributed.client"))  # a lost scheduler's reconnection logs tracebacks up to the close;
        if isinstance(scheduler, distributed.Client):     # the error below says what happened
            client = scheduler
        elif scheduler is not None:
            client = connect_scheduler(scheduler)
            stack.callback(client.close)
        else:
            if local_directory is None:
                local_directory = stack.enter_context(work_dir())
            with warnings.catch_warnings():  # its HTTP endpoint moving off a taken port 8787 is no news to a user
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                cluster = stack.enter_context(distributed.LocalCluster(
                    n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, memory_limit="auto",
                    dashboard_address=None, silence_logs=logging.ERROR, local_directory=str(local_directory)))
            client = stack.enter_context(distributed.Client(cluster, set_as_default=False))
        try:
            yield client
        except LmstatsError:
            raise
        except Exception as exc:
            if _scheduler_lost(client, exc):
                raise LmstatsError(f"the Dask scheduler {client.scheduler.address} went away mid-run ({_reason(exc)}); no output "
                                   "was written and any that existed is as it was: restart the scheduler and its workers, "
                                   "and run again") from None
            if isinstance(exc, (distributed.KilledWorker, distributed.CancelledError, CommClosedError)):
                raise LmstatsError(f"the Dask cluster lost work in progress ({_reason(exc)}): a worker died, most often for want "
                                   "of memory; give the workers more memory or add workers, or count here with --engine local") from None
            raise


def _scheduler_lost(client, exc: BaseException) -> bool:
    """Whether ``exc`` came from losing the scheduler (the client no longer connected to it)."""
    return "scheduler-connection-lost" in _reason(exc) or getattr(client, "status", "running") not in ("running", "newly-created")


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _distributed():
    try:
        import distributed
    except ImportError:
        raise LmstatsError("--engine dask needs the distributed package: pip install 'lmstats[dask]' "
                           "(or pip install 'dask[distributed]')") from None
    return distributed


# -- connecting to a scheduler ------------------------------------------------------------------
# Every step is bounded: distributed's own ``connect`` bounds the TCP connection but not the
# handshake that follows (it writes its greeting, then waits for the peer's as long as it takes),
# and it reads the first 8 bytes of whatever the peer sends as the length of a message and
# allocates that much at once: an HTTP server's "HTTP/1.1" reads as 3.5e18 bytes.  A Dask listener
# speaks first (its handshake, a message of a few hundred bytes), so the address is first probed
# with a plain socket that sends nothing and reads at most GREETING_MAX_BYTES of that greeting;
# only a peer that greets as Dask does is handed to distributed, asked who it is, then connected.
GREETING_MAX_BYTES = 1 << 16
_CHECK = ("check the address and that `dask scheduler` runs there (it listens on port 8786 by default; 8787 is its "
          "dashboard), or drop --scheduler to count on the cores of this machine")


def scheduler_address(address: str) -> tuple[str, str, int | None]:
    """The (scheme, host, port) of a scheduler address as distributed reads it: ``tcp://HOST:PORT``,
    ``HOST:PORT`` (tcp), ``tls://HOST:PORT``, the other schemes distributed knows (``ws://``, ``wss://``:
    HOST:PORT too) or ``inproc://ADDRESS`` (a cluster in this process: host is ADDRESS, port None).
    Anything else raises :class:`LmstatsError` before any connection is tried."""
    _distributed()
    from distributed.comm.registry import backends

    text = str(address).strip()
    scheme, sep, location = text.partition("://")
    if not sep:
        scheme, location = "tcp", text
    if scheme not in backends:
        why = f"distributed knows the schemes {', '.join(sorted(backends))}, not {scheme}://"
    elif scheme == "inproc":
        if location:
            return scheme, location, None
        why = "inproc:// names no cluster"
    else:
        host, colon, port = location.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host  # [::1]:8786
        if not colon or not host or "/" in location:
            why = "it is not of the form HOST:PORT"
        elif not port.isdigit() or not 0 < int(port) < 65536:
            why = f"the port {port!r} is not a number from 1 to 65535"
        else:
            return scheme, host, int(port)
    raise LmstatsError(f"--scheduler {address!r} is not a Dask address ({why}); give the scheduler's address as tcp://HOST:PORT "
                       "(a `dask scheduler` prints it as it starts; its port is 8786 by default)")


def connect_scheduler(address: str, timeout: float | None = None):
    """A ``distributed.Client`` of the scheduler at ``address``, or :class:`LmstatsError` within about
    ``timeout`` seconds (:data:`CONNECT_TIMEOUT_S`): the address is not a Dask address, nothing
    answers there, the server there does not speak Dask's protocol, or it is no scheduler."""
    distributed = _distributed()
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    scheme, host, port = scheduler_address(address)
    deadline = time.monotonic() + timeout
    args = distributed.Security().get_connection_args("client")
    if scheme in ("tcp", "tls"):
        if scheme == "tls" and args.get("ssl_context") is None:
            raise LmstatsError(f"--scheduler {address}: tls:// needs Dask's TLS settings, and none are set; give "
                               "distributed.comm.tls.ca-file, .client.cert and .client.key in Dask's configuration "
                               "(or DASK_DISTRIBUTED__COMM__TLS__... variables), or use the scheduler's tcp:// address")
        _probe(address, host, port, args.get("ssl_context") if scheme == "tls" else None, timeout, deadline)
    _ask_identity(distributed, address, args, timeout, deadline)
    try:
        return distributed.Client(address, timeout=f"{max(1.0, deadline - time.monotonic()):.3f}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} ({_reason(exc)}); {_CHECK}") from None


def _within(deadline: float, job: Callable[[], object]):
    """``job()`` in a daemon thread: its result, or the exception it raised (returned, not raised), or
    :class:`TimeoutError` when it is still running half a second past ``deadline`` (a host name's lookup
    has no time limit of its own; a thread of its own also keeps asyncio off a caller's running loop)."""
    outcome: list = []

    def run():
        try:
            outcome.append(job())
        except Exception as exc:  # noqa: BLE001 - handed to the caller
            outcome.append(exc)

    thread = threading.Thread(target=run, name="lmstats-dask-connect", daemon=True)
    thread.start()
    thread.join(max(0.0, deadline - time.monotonic()) + 0.5)
    return outcome[0] if outcome else TimeoutError()


def _probe(address: str, host: str, port: int, ssl_context, timeout: float, deadline: float) -> None:
    """Connect and read the peer's greeting without a word from us, within ``deadline``."""
    outcome = _within(deadline, lambda: _read_greeting(address, host, port, ssl_context, timeout, deadline))
    if isinstance(outcome, TimeoutError):
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} (the host name {host!r} did not resolve "
                           f"within {timeout:g} s); {_CHECK}")
    if isinstance(outcome, BaseException):
        raise outcome


def _read_greeting(address: str, host: str, port: int, ssl_context, timeout: float, deadline: float) -> None:
    def not_dask(why: str) -> LmstatsError:
        return LmstatsError(f"the server at {address} does not speak Dask's protocol ({why}); {_CHECK}")

    try:
        sock = socket.create_connection((host, port), timeout=max(0.01, deadline - time.monotonic()))
    except socket.gaierror as exc:
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} (the host name {host!r} is unknown: {exc.strerror}); "
                           f"{_CHECK}") from None
    except TimeoutError:
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} (no answer within {timeout:g} s); {_CHECK}") from None
    except OSError as exc:
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} ({exc.strerror or _reason(exc)}); {_CHECK}") from None
    with contextlib.closing(sock):
        if ssl_context is not None:
            try:
                sock = ssl_context.wrap_socket(sock)
            except TimeoutError:
                raise not_dask(f"no TLS handshake within {timeout:g} s") from None
            except OSError as exc:
                raise not_dask(f"the TLS handshake failed: {_reason(exc)}") from None
        head = _read_exactly(sock, 8, deadline)
        if not head:
            raise not_dask(f"it accepted the connection but sent no Dask greeting within {timeout:g} s; "
                           "a scheduler that uses TLS is reached at tls://")
        size = struct.unpack("Q", head.ljust(8, b"\0"))[0]  # as distributed reads it
        if len(head) < 8 or not 16 <= size <= GREETING_MAX_BYTES:
            raise not_dask(f"it opened with {head!r}, not the length of a Dask message")
        body = _read_exactly(sock, size, deadline)
        n_frames = struct.unpack("Q", body[:8])[0] if len(body) == size else 0
        if not 0 < n_frames <= (size - 8) // 8 or sum(struct.unpack(f"{n_frames}Q", body[8:8 + 8 * n_frames])) != size - 8 - 8 * n_frames:
            raise not_dask(f"its greeting of {len(body)} bytes is no Dask message")


def _read_exactly(sock: socket.socket, n: int, deadline: float) -> bytes:
    """Up to ``n`` bytes: fewer when the peer closes or ``deadline`` passes."""
    data = bytearray()
    while len(data) < n and (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(data))
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _ask_identity(distributed, address: str, args: dict, timeout: float, deadline: float) -> None:
    """The first exchange: the server at ``address`` says what it is, within ``deadline``."""
    async def identity():
        async with distributed.rpc(address, timeout=timeout, connection_args=args) as server:
            return await server.identity()

    async def bounded():
        return await asyncio.wait_for(identity(), max(0.01, deadline - time.monotonic()))

    outcome = _within(deadline, lambda: asyncio.run(bounded()))
    if isinstance(outcome, TimeoutError):
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} (no answer to Dask's handshake within {timeout:g} s); "
                           f"{_CHECK}")
    if isinstance(outcome, Exception):
        raise LmstatsError(f"cannot reach a Dask scheduler at {address} ({_reason(outcome)}); {_CHECK}")
    kind = outcome.get("type") if isinstance(outcome, dict) else repr(outcome)[:80]  # a Dask server's answer: its class's name
    if kind != "Scheduler":  # a worker's or a nanny's address, most likely
        raise LmstatsError(f"the server at {address} speaks Dask's protocol but is no scheduler (it says: {kind}); give the "
                           "scheduler's address (workers and nannies listen on ports of their own), or drop --scheduler")


def _reason(exc: BaseException) -> str:
    try:  # some of distributed's exceptions format attributes that may be missing
        text = str(exc).strip()
    except Exception:  # noqa: BLE001
        text = ""
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]



# -- reductions ------------------------------------------------------------------------------------
def tree_reduce(client, futures: list, combine: Callable):
    """``combine`` applied pairwise to ``futures`` as a tree of tasks on the cluster; the future of the result."""
    level = list(futures)
    while len(level) > 1:
        level = [client.submit(combine, *level[i : i + 2]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
    return level[0]


def worker_memory(client) -> int:
    """The smallest ``memory_limit`` of the cluster's workers (bytes; 0 when none is set)."""
    limits = [int(w.get("memory_limit") or 0) for w in client.scheduler_info().get("workers", {}).values()]
    return min(limits, default=0)

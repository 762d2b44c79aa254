"""Where the jobs of a sweep run: in this process (``local``) or as Ray tasks (``ray``).

A :class:`Job` is a top-level function and picklable keyword arguments, so the same job runs
the same way in this process or in a Ray worker, and a backend returns the results in the order
of the jobs whatever order they finish in. Ray is imported only when the Ray backend starts.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from types import TracebackType
from typing import Any, Self

BACKENDS = ("local", "ray")
"""Names accepted by :func:`make_backend`."""

THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
"""Environment of Ray workers: one job per CPU, so no library should spawn a thread pool."""

CONNECT_TIMEOUT_S = 5.0
"""How long to wait for a cluster's address to accept a TCP connection before giving up."""

LOCAL_OBJECT_STORE_BYTES = 256 * 2**20
"""Object store of a local Ray instance: jobs exchange scenarios and summary rows only."""

SlotHook = Callable[[int], None]


DoneHook = Callable[[int, Any], None]


class BackendError(RuntimeError):
    """A backend cannot be set up (bad name, unreachable cluster, Ray refused to start)."""


@dataclass(frozen=True)
class JobError:
    """What a job that raised left instead of a result (with ``keep_going``).

    Attributes:
        error: the exception's type and message.
    """

    error: str

    @classmethod
    def of(cls, err: BaseException) -> JobError:
        """The record of ``err``."""
        return cls(f"{type(err).__name__}: {err}")


@dataclass(frozen=True)
class Job:
    """One unit of work: ``fn(**kwargs)``.

    Attributes:
        fn: a module-level function (pickled by reference, so workers must have the package).
        kwargs: its keyword arguments, all picklable.
        slots: the slots this job simulates, for progress. When it is above zero, ``fn`` takes an
            ``on_slot`` keyword argument, which the local backend passes to report every slot;
            the Ray backend reports them all when the job finishes.
    """

    fn: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    slots: int = 0


class Backend(ABC):
    """Runs jobs and returns their results in job order; a context manager around start/close."""

    name: str

    def start(self) -> None:  # noqa: B027 (a backend without set-up keeps this)
        """Acquire what the backend needs; idempotent."""

    def close(self) -> None:  # noqa: B027 (a backend without set-up keeps this)
        """Release what :meth:`start` acquired; idempotent."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def run(
        self,
        jobs: Sequence[Job],
        on_slot: SlotHook | None = None,
        on_done: DoneHook | None = None,
        keep_going: bool = False,
    ) -> list[Any]:
        """Run ``jobs``; the i-th result is ``jobs[i]``'s.

        Args:
            jobs: the jobs.
            on_slot: called once per simulated slot (see :attr:`Job.slots`) with a slot index.
            on_done: called with a job's index and result as soon as it finishes.
            keep_going: a job that raises gives a :class:`JobError` as its result and the others
                go on (else its error is raised and the others are stopped).
        """


class LocalBackend(Backend):
    """Runs the jobs one after the other in this process, in order."""

    name = "local"

    def run(
        self,
        jobs: Sequence[Job],
        on_slot: SlotHook | None = None,
        on_done: DoneHook | None = None,
        keep_going: bool = False,
    ) -> list[Any]:
        """Run ``jobs`` in order; ``on_slot`` is called as each slot finishes."""
        results = []
        for i, job in enumerate(jobs):
            kwargs = dict(job.kwargs)
            if job.slots and on_slot is not None:
                kwargs["on_slot"] = on_slot
            try:
                result = job.fn(**kwargs)
            except Exception as err:
                if not keep_going:
                    raise
                result = JobError.of(err)
            results.append(result)
            if on_done is not None:
                on_done(i, result)
        return results


def _execute(fn: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
    """Body of every Ray task: one thread for the numeric libraries, then the job."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    return fn(**kwargs)


def check_address(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast when ``address`` is not ``[ray://]HOST:PORT`` that accepts TCP connections.

    Ray itself retries an unreachable address for minutes; this check turns a typo or a cluster
    that is down into an error within ``timeout_s``. ``auto`` (a cluster started on this machine
    or named by ``RAY_ADDRESS``) is left to Ray.

    Raises:
        BackendError: the address is malformed or nothing listens there.
    """
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, sep, port_text = hostport.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise BackendError(f"expected HOST:PORT (or auto), got {address!r}")
    try:
        with socket.create_connection((host, int(port_text)), timeout=timeout_s):
            pass
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        raise BackendError(f"cannot reach a Ray cluster at {address!r}: {reason}") from None


class RayBackend(Backend):
    """Runs every job as a Ray task of one CPU and gathers the results as they finish.

    Args:
        address: a running cluster (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``); ``None``
            starts a local instance for the duration of the backend.
        workers: CPUs of the local instance (default: this machine's); on a cluster, the most
            jobs in flight at once (default: all of them, Ray queues what does not fit).
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise BackendError(f"workers must be >= 1, got {workers}")
        self.address = address
        self.workers = workers
        self._started = False  # whether this backend started Ray (and so shuts it down)
        self._remote: Any = None

    def start(self) -> None:
        """Connect to the cluster at :attr:`address`, or start a local instance.

        An instance already running in this process (``ray.init`` called by the caller) is used
        as it is and left running.

        Raises:
            BackendError: Ray is missing, the address is bad, or Ray refused to start.
        """
        if self._remote is not None:
            return
        if self.address is not None:
            check_address(self.address)
        try:
            import ray
        except ImportError as err:  # pragma: no cover - ray is a dependency
            raise BackendError(f"the ray backend needs the ray package: {err}") from None
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "log_to_driver": False,
                "logging_level": logging.ERROR,
                "runtime_env": {"env_vars": dict(THREAD_ENV)},
            }
            if self.address is None:
                options.update(
                    address="local",
                    num_cpus=self.workers or os.cpu_count() or 1,
                    include_dashboard=False,
                    object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                )
            else:
                options["address"] = self.address
            try:
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as err:
                where = f"at {self.address!r}" if self.address else "locally"
                hint = ""
                if self.address not in (None, "auto") and "RAY_AUTH_MODE" not in os.environ:
                    hint = (
                        "; a cluster with token authentication (Ray's default) also needs"
                        " RAY_AUTH_MODE=token and its token on this machine"
                    )
                raise BackendError(f"cannot start Ray {where}: {err}{hint}") from None
            self._started = True
        self._remote = ray.remote(num_cpus=1)(_execute)

    def close(self) -> None:
        """Shut Ray down if :meth:`start` started it."""
        if self._started:
            import ray

            ray.shutdown()
            self._started = False
        self._remote = None

    def run(
        self,
        jobs: Sequence[Job],
        on_slot: SlotHook | None = None,
        on_done: DoneHook | None = None,
        keep_going: bool = False,
    ) -> list[Any]:
        """Submit ``jobs`` as tasks; ``on_slot`` is called for a job's slots when it finishes.

        Without ``keep_going`` a failing job cancels the others and its error is raised here.
        """
        import ray

        self.start()
        limit = len(jobs) if self.address is None or self.workers is None else self.workers
        results: list[Any] = [None] * len(jobs)
        index: dict[Any, int] = {}
        queued = iter(range(len(jobs)))

        def submit(n: int) -> None:
            for i in islice(queued, n):
                index[self._remote.remote(jobs[i].fn, dict(jobs[i].kwargs))] = i

        submit(limit)
        # Ctrl-C only sets a flag; the loop raises KeyboardInterrupt between waits. Raised
        # wherever the signal lands, it can hit Ray's own callbacks, and its core aborts.
        interrupted: list[int] = []
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(
                signal.SIGINT, lambda signum, _frame: interrupted.append(signum)
            )
        try:
            while index:
                if interrupted:
                    raise KeyboardInterrupt
                done, _ = ray.wait(list(index), num_returns=1, timeout=0.2)
                if not done:
                    continue
                i = index.pop(done[0])
                try:
                    results[i] = ray.get(done[0])
                except ray.exceptions.RayTaskError as err:
                    if not keep_going:
                        raise
                    cause = err.cause if isinstance(err.cause, BaseException) else err
                    results[i] = JobError.of(cause)
                if on_done is not None:
                    on_done(i, results[i])
                if on_slot is not None:
                    for t in range(jobs[i].slots):
                        on_slot(t)
                submit(1)
        except BaseException:
            for ref in index:
                ray.cancel(ref)
            raise
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
        return results


def make_backend(name: str, address: str | None = None, workers: int | None = None) -> Backend:
    """A backend by name (see :data:`BACKENDS`); it starts when entered or first run.

    Raises:
        BackendError: an unknown name, or options the backend does not take.
    """
    if name == "local":
        if address is not None or workers is not None:
            raise BackendError("address and workers apply to the ray backend only")
        return LocalBackend()
    if name == "ray":
        return RayBackend(address, workers)
    raise BackendError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}")

"""Each loaded model lives in its own spawned child process: start, request, stream, stop.

Why a process per model: a model unloaded in-process keeps its CUDA context and allocator caches
(llama-cpp-python #1442, faster-whisper #680), and a native crash would take the daemon down.
Ending the process returns every byte; a crash becomes a WorkerCrashed error for the caller.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import AsyncGenerator, Callable
from multiprocessing.connection import Connection
from typing import Any

from assistant.core.errors import AssistantError, ModelError, OutOfMemory, WorkerCrashed, WorkerStalled
from assistant.core.models import ModelFiles, ModelSpec
from assistant.hosts.host import Op
from assistant.hosts.progress import PROBE_S, GpuBusy, Progress, WorkerLimits, nvml_gpu_busy
from assistant.hosts.worker_child import child_main

log = logging.getLogger(__name__)

LOAD_TIMEOUT_S = 600.0
# A cancelled stream that the worker does not confirm within this is ended by killing the worker.
CANCEL_CONFIRM_S = 1.0


# ---------------------------------------------------------------- parent side


class Worker:
    """The daemon's handle on one model process. One request at a time; a stream can be cancelled."""

    def __init__(
        self,
        spec: ModelSpec,
        files: ModelFiles,
        device: str,
        limits: WorkerLimits | None = None,
        on_exit: Callable[[Worker], None] | None = None,
    ) -> None:
        self.spec = spec
        self.limits = limits or WorkerLimits()  # when a request's worker counts as hung (progress.py)
        self._gpu_busy: GpuBusy | None = None
        self.last_message = time.monotonic()  # when the worker last sent anything (the watchdog reads it)
        self.files = files
        self.requested_device = device
        self.device = device
        self.load_seconds = 0.0
        self.sample_rate = 0
        self.exit_reason: str | None = None
        self.on_exit = on_exit  # told when the process ends on its own (a crash, an OOM kill, a stall)
        self._proc: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: dict[int, asyncio.Queue[Any]] = {}
        self._ready: asyncio.Future[Any] | None = None
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._stopping = False
        self.daemon_stopping = False  # set by the daemon's shutdown: an interrupted request is then no fault

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive() and self.exit_reason is None

    async def start(self, timeout: float = LOAD_TIMEOUT_S) -> None:
        """Spawn the process and wait until the model is loaded; raise ModelError/OutOfMemory/WorkerCrashed."""
        self._loop = asyncio.get_running_loop()
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._conn = parent
        self._ready = self._loop.create_future()
        proc = ctx.Process(
            target=child_main,
            args=(child, self.spec.to_dict(), self.files, self.requested_device),
            name=f"assistant-{self.spec.id}",
            daemon=True,
        )
        started = time.perf_counter()
        # Started inline (a fork and exec, a few ms): in a thread, a cancel could orphan the process.
        proc.start()
        self._proc = proc
        child.close()
        threading.Thread(target=self._reader, name=f"reader-{self.spec.id}", daemon=True).start()
        try:
            kind, info = await asyncio.wait_for(asyncio.shield(self._ready), timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise ModelError(f"{self.spec.id}: loading took longer than {timeout:.0f} s; gave up") from None
        except BaseException:
            await self.stop()
            raise
        if kind == "load_error":
            await self.stop()
            error_type = OutOfMemory if info.get("oom") else ModelError
            raise error_type(info["message"], code=info["code"])
        self.device = info["device"]
        if self.device.startswith("cuda"):
            self._gpu_busy = await asyncio.to_thread(nvml_gpu_busy)
        self.sample_rate = int(info["sample_rate"])
        # Wall time from spawn to ready: what a user waits for, interpreter start included.
        self.load_seconds = time.perf_counter() - started

    def _reader(self) -> None:
        """Runs in a thread: forwards every message to the loop; EOF means the process is gone."""
        assert self._conn is not None and self._loop is not None
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                break
            except Exception as exc:  # an unpicklable reply must not kill the reader
                log.error("%s: bad message from worker: %s", self.spec.id, exc)
                continue
            self._post(self._dispatch, msg)
        self._post(self._died)

    def _post(self, fn: Callable[..., None], *args: object) -> None:
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:
            pass  # the loop is closed: the daemon is exiting

    def _dispatch(self, msg: tuple[Any, ...]) -> None:
        self.last_message = time.monotonic()
        if msg[0] in ("ready", "load_error"):
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(msg)
            return
        queue = self._queues.get(msg[1])
        if queue is not None:
            queue.put_nowait(msg)

    def _died(self) -> None:
        proc = self._proc
        if proc is not None:
            proc.join(timeout=1.0)
        code = proc.exitcode if proc is not None else None
        if self._stopping:
            self.exit_reason = "stopped"
        elif self.exit_reason is not None:
            pass  # killed for stalling: keep that reason
        elif code is not None and code < 0:
            self.exit_reason = f"killed by {signal.Signals(-code).name}"
        else:
            self.exit_reason = f"exited with code {code}"
        error = WorkerCrashed(f"the {self.spec.id} worker {self.exit_reason}; it will be restarted on next use")
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(error)
        for queue in self._queues.values():
            queue.put_nowait(("crash", 0, error))
        if not self._stopping and self.on_exit is not None:
            self.on_exit(self)

    def _send(self, msg: tuple[Any, ...]) -> None:
        if self._conn is None or not self.alive:
            raise WorkerCrashed(f"the {self.spec.id} worker is not running ({self.exit_reason or 'not started'})")
        try:
            self._conn.send(msg)
        except (OSError, ValueError):
            raise WorkerCrashed(f"the {self.spec.id} worker went away") from None

    async def request(self, op: Op, **args: object) -> object:
        async with self._lock:
            req_id = next(self._ids)
            queue: asyncio.Queue[Any] = asyncio.Queue()
            self._queues[req_id] = queue
            watch = self._watch(op)
            try:
                await self._submit(("req", req_id, op, args), watch)
                kind, _, payload = await self._next(queue, watch)
                return _unwrap(kind, payload)
            finally:
                self._queues.pop(req_id, None)

    async def stream(self, op: Op, **args: object) -> AsyncGenerator[object, None]:
        """Yield items as the worker produces them; leaving early tells the worker to stop."""
        async with self._lock:
            req_id = next(self._ids)
            queue: asyncio.Queue[Any] = asyncio.Queue()
            self._queues[req_id] = queue
            finished = False
            watch = self._watch(op)
            try:
                await self._submit(("req", req_id, op, args), watch)
                while True:
                    kind, _, payload = await self._next(queue, watch)
                    if kind == "item":
                        yield payload
                        continue
                    finished = True
                    if kind == "done":
                        return
                    _unwrap(kind, payload)
            finally:
                if not finished and self.alive:
                    await self._cancel(req_id, queue)
                self._queues.pop(req_id, None)

    def _watch(self, op: Op) -> Progress:
        return Progress(self.pid, op, self.limits, self._gpu_busy)

    async def _submit(self, msg: tuple[Any, ...], watch: Progress) -> None:
        """Send a request from a thread: a pipe to a worker that does not read (stopped, hung) fills up, and
        a blocking send of a few MB of audio would stall the daemon's loop with it."""
        sending = asyncio.ensure_future(asyncio.to_thread(self._send, msg))
        try:
            while True:
                done, _ = await asyncio.wait({sending}, timeout=PROBE_S)
                if done:
                    sending.result()
                    return
                if (reason := watch.check()) is not None:
                    raise self._stalled(watch.op, reason)
        except asyncio.CancelledError:
            # Half a message left in the pipe would garble the next request: let the send finish, or end
            # the worker if it will not take it.
            done, _ = await asyncio.wait({sending}, timeout=CANCEL_CONFIRM_S)
            if not done:
                self._kill_hung("did not take a request")
            raise

    async def _next(self, queue: asyncio.Queue[Any], watch: Progress) -> Any:
        """The worker's next message. While none comes, the worker is looked at each PROBE_S: one that is
        stopped, burns no CPU, or stays silent past the op's deadline is killed (progress.py)."""
        while True:
            try:
                msg = await asyncio.wait_for(queue.get(), PROBE_S)
            except asyncio.TimeoutError:
                if (reason := watch.check()) is not None:
                    raise self._stalled(watch.op, reason) from None
                continue
            watch.heard()
            return msg

    def _stalled(self, op: str, reason: str) -> WorkerStalled:
        self._kill_hung(reason)
        return WorkerStalled(f"the {self.spec.id} worker {reason} ({op}); it was killed and will restart on next use")

    def _kill_hung(self, reason: str, quiet: bool = False) -> None:
        """SIGKILL, which even a stopped (SIGSTOP) or wedged process cannot ignore. Not `_stopping`: the
        arbiter hears of the exit through on_exit and starts a fresh worker on next use."""
        if not self.alive:
            return  # already gone: keep the reason it went
        log.log(logging.INFO if quiet else logging.ERROR, "%s worker %s; killing it", self.spec.id, reason)
        self.exit_reason = reason
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()

    async def _cancel(self, req_id: int, queue: asyncio.Queue[Any]) -> None:
        """Tell the worker to stop and drain until it confirms, so the next request starts clean."""
        try:
            self._send(("cancel", req_id))
            deadline = time.monotonic() + CANCEL_CONFIRM_S
            while True:
                # A cancel must come back quickly whatever the worker does: one that does not confirm in
                # time (hung, stopped, or deep in a long native call) is killed instead of waited for.
                kind, _, _ = await asyncio.wait_for(queue.get(), max(0.0, deadline - time.monotonic()))
                if kind != "item":
                    return
        except (WorkerCrashed, asyncio.TimeoutError, asyncio.CancelledError) as exc:
            # A second cancel lands here too; the stream is over either way, and the next use of the
            # model starts a fresh worker. Not waiting (a second cancel, or the daemon stopping: Ctrl+C,
            # SIGTERM, `assistant shutdown` mid-answer) is a normal stop, not a worker that failed to stop.
            normal = self.daemon_stopping or isinstance(exc, asyncio.CancelledError)
            self._kill_hung("was stopped mid-request" if normal else "did not stop when cancelled", quiet=normal)

    def kill(self) -> None:
        """End the process now, without asking (shutdown ran out of time)."""
        self._stopping = True
        if self._proc is not None and self._proc.is_alive():
            self._proc.kill()

    async def stop(self, timeout: float = 5.0) -> None:
        """End the process: ask politely, then SIGKILL. Safe to call twice or on a dead worker."""
        self._stopping = True
        proc = self._proc
        if proc is None:
            return
        if proc.is_alive() and self._conn is not None:
            try:
                self._conn.send(("exit",))
            except (OSError, ValueError):
                pass
        await asyncio.to_thread(proc.join, timeout)
        if proc.is_alive():
            proc.kill()
            await asyncio.to_thread(proc.join, 2.0)
        if self.exit_reason is None:
            self.exit_reason = "stopped"
        if self._conn is not None:
            self._conn.close()


def _unwrap(kind: str, payload: object) -> object:
    if kind == "result":
        return payload
    if kind == "crash" and isinstance(payload, BaseException):
        raise payload
    if kind == "error" and isinstance(payload, dict):
        raise AssistantError(payload["message"], code=payload["code"])
    raise WorkerCrashed(f"unexpected worker message {kind!r}")

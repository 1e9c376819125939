"""The child side of a model worker: load the engine, then serve requests over the pipe until told to exit.

Spawned by workers.Worker; every reply is a small picklable tuple, and every failure a message, never a
traceback, so the parent turns each into an error for its caller.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from assistant.core.errors import AssistantError, OutOfMemory
from assistant.core.models import ModelFiles, ModelSpec
from assistant.hosts.host import Op

LLM_NICENESS = 5


def child_main(conn: Connection, spec_data: dict[str, Any], files: ModelFiles, device: str) -> None:
    """Load the engine, then serve requests until told to exit or the parent goes away."""
    # The daemon handles Ctrl+C for the whole group; a worker must not die of it mid-request.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format=f"worker[{spec_data['id']}] %(levelname)s %(message)s")
    _thread_lock_for_tqdm()
    from assistant.engines.loader import load_engine

    spec = ModelSpec.from_dict(spec_data)
    if spec.kind == "llm":
        # While the LLM writes ahead, the voice speaks the sentence before: on a CPU the two compete,
        # and a late first sentence is heard, a late tenth token is not. Let the voice go first.
        os.nice(LLM_NICENESS)
    started = time.perf_counter()
    try:
        engine = load_engine(spec, files, device)
    except AssistantError as exc:
        conn.send(("load_error", {"code": exc.code, "message": exc.message, "oom": isinstance(exc, OutOfMemory)}))
        return
    except Exception as exc:  # an engine bug still has to reach the daemon as one line
        conn.send(("load_error", {"code": "model", "message": f"{spec.id}: {exc}".splitlines()[0], "oom": False}))
        return
    info = {
        "device": engine.device,
        "load_s": time.perf_counter() - started,
        "sample_rate": getattr(engine, "sample_rate", 0),
    }
    conn.send(("ready", info))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg[0] == "exit":
            # Skip interpreter teardown (freeing a model object by object takes a while): the kernel
            # and the driver take back every byte, GPU memory included, when the process ends.
            os._exit(0)
        if msg[0] == "cancel":
            continue  # arrived after its request finished
        _serve(conn, engine, msg)


def _thread_lock_for_tqdm() -> None:
    """faster-whisper's tqdm makes a multiprocessing lock (a named semaphore) on first use. A worker
    ends with os._exit, so the semaphore would be left to the resource tracker, which warns about it
    in the parent. A worker has one request thread: a thread lock is all tqdm needs here."""
    try:
        from tqdm import tqdm
    except ImportError:
        return
    tqdm.set_lock(threading.RLock())


def _serve(conn: Connection, engine: Any, msg: tuple[Any, ...]) -> None:
    _, req_id, op, args = msg
    try:
        if op == Op.TRANSCRIBE:
            conn.send(("result", req_id, engine.transcribe(args["audio"], args.get("prompt"))))
        elif op in (Op.CHAT, Op.SYNTHESIZE, Op.TRANSCRIBE_SEGMENTS):
            if op == Op.CHAT:
                items = engine.chat(args["messages"], args.get("max_tokens"), args.get("tools", ()))
            elif op == Op.SYNTHESIZE:
                items = engine.synthesize(args["text"])
            else:
                items = _segments(engine, args["audio"], args.get("prompt"))
            for item in items:
                conn.send(("item", req_id, item))
                if _cancelled(conn, req_id):
                    close = getattr(items, "close", None)
                    if close:
                        close()
                    break
            conn.send(("done", req_id, None))
        elif op == Op.PREFILL:
            # Engines with no KV cache to fill (a scripted test engine) answer None.
            prefill = getattr(engine, "prefill", None)
            stats = prefill(args["messages"], args.get("tools", ())) if prefill is not None else None
            conn.send(("result", req_id, stats))
        elif op == Op.PROMPT_STATS:
            # Engines that do not count their prompt tokens answer None.
            stats = getattr(engine, "prompt_stats", None)
            conn.send(("result", req_id, stats() if stats is not None else None))
        else:
            conn.send(("error", req_id, {"code": "bad_request", "message": f"unknown worker op {op!r}"}))
    except AssistantError as exc:
        conn.send(("error", req_id, {"code": exc.code, "message": exc.message}))
    except Exception as exc:
        conn.send(("error", req_id, {"code": "engine", "message": f"{op} failed: {exc}".splitlines()[0]}))


def _segments(engine: Any, audio: Any, prompt: str | None) -> Iterator[Any]:
    """Segments as the engine decodes them, then the whole Transcript; an engine that only transcribes whole
    gives its segments at the end."""
    stream = getattr(engine, "transcribe_segments", None)
    if stream is not None:
        return iter(stream(audio, prompt))
    transcript = engine.transcribe(audio, prompt)
    return iter([*transcript.segments, transcript])


def _cancelled(conn: Connection, req_id: int) -> bool:
    while conn.poll():
        msg = conn.recv()
        if msg[0] == "cancel" and msg[1] == req_id:
            return True
        if msg[0] == "exit":
            os._exit(0)
    return False

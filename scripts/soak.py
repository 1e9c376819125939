#!/usr/bin/env python3
"""Soak: drive one real daemon for N turns and watch what grows.

    .venv/bin/python scripts/soak.py [--turns 1000] [--kill-every 100] [--voice-every 10] [--out bench-results/soak.json]

The daemon runs on the embedded models with a private PulseAudio (voice through the virtual mic), its
Wyoming server and an MCP tool server (stdio) configured. Turn i is, by its number:
  every voice-every  a voice turn: the key pressed, a question spoken into the mic, released, the
                     reply heard out (and at half the period, a text question whose reply is spoken);
  every 10th + 5     a Wyoming transcription of a recorded question;
  every 25th + 22    the LLM switched (two LLMs that do not fit together: a swap each time);
  every 50th + 15    the config reloaded;
  every 50th + 35    the MCP server killed, and waited for until the daemon has reconnected;
  every kill-every   a model worker SIGKILLed (ASR, LLM, TTS in turn), at half the period;
  otherwise          a text question, answered in text.
Every 10 turns (after a text turn, when every model in use is loaded) it samples the daemon's and the workers' RSS, the daemon's open descriptors, its child
processes (and zombies), and the sizes of the history and state files. It prints a table and writes JSON:
growth after warm-up (the first 10 % of turns, at least 50; descriptors between samples with as many
workers up, since a killed worker returns only when a turn needs it), and text-turn latency by decile, counting
only warm turns (not the first after a switch, a kill or a reload), each against the median of the same
question over the run (replies differ in length). Targets: daemon RSS growth <= 20 MB,
no descriptor or process leak, latency drift (last decile / first) <= 10 %.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.daemon_process import DaemonProcess, children, private_xdg, write_catalog  # noqa: E402
from tests.espeak import espeak  # noqa: E402
from tests.wyoming_peers import free_port, transcribe  # noqa: E402

QUESTIONS = ("Say hello in five words.", "Name a colour.", "What is two plus two?", "Tell me about the sea.")
SPOKEN = ("What is the capital of France?", "Why is the sky blue?")
LLMS = ("smollm2-135m", "smollm2-alt")


@dataclass
class Sample:
    turn: int
    seconds: float
    daemon_rss_mb: float
    workers_rss_mb: float
    fds: int
    children: int
    zombies: int
    history_kb: float
    state_kb: float


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def zombies(pid: int) -> int:
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            count += int(fields[1]) == pid and fields[0] == "Z"
    return count


def folder_kb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1024 if path.exists() else 0.0


class Soak:
    def __init__(self, root: Path, turns: int, kill_every: int, voice_every: int) -> None:
        from tests.pulse import Pulse

        self.turns, self.kill_every, self.voice_every = turns, kill_every, voice_every
        self.pulse = Pulse(root / "pulse")
        self.paths, env = private_xdg(root / "xdg")
        write_catalog(self.paths, llm_gb=9.0)  # two 9 GB LLMs on the simulated 16 GB card: each switch swaps
        self.port = free_port()
        self.config = (f'[wyoming]\nuri = "tcp://127.0.0.1:{self.port}"\n'
                       f'[[mcp]]\nname = "tools"\ncommand = "{sys.executable}"\n'
                       f'args = ["{Path(__file__).resolve().parent.parent / "tests" / "mcp_server.py"}", "{root / "marks"}"]\n'
                       'retry_s = 1\n')
        self.paths.config_file.write_text(self.config)
        self.daemon = DaemonProcess(self.paths, env={**env, **self.pulse.env})
        self.clips = [espeak(text, "en-us", 160) for text in SPOKEN]
        self.samples: list[Sample] = []
        self.latency: list[tuple[int, int, float]] = []  # (turn, question, seconds) of warm text turns
        self.kinds: dict[str, int] = {}
        self.cold = True
        self.started = time.monotonic()

    def sample(self, turn: int) -> Sample:
        pid = self.daemon.proc.pid if self.daemon.proc else 0
        kids = children(pid)
        workers = [p for p in kids if p in self.daemon.worker_pids()]
        history = self.paths.history_file
        size = sum(f.stat().st_size for f in history.parent.glob("history*.jsonl")) / 1024 if history.exists() else 0
        return Sample(turn, round(time.monotonic() - self.started, 1), round(rss_mb(pid), 1),
                      round(sum(rss_mb(p) for p in workers), 1), len(os.listdir(f"/proc/{pid}/fd")), len(kids),
                      zombies(pid), round(size, 1), round(folder_kb(self.paths.state_dir), 1))

    def kind(self, i: int) -> str:
        if self.kill_every and i % self.kill_every == self.kill_every // 2:
            return "kill"
        if i % 50 == 35:
            return "mcp"
        if i % 50 == 15:
            return "reload"
        if i % 25 == 22:
            return "switch"
        if i % self.voice_every == 0:
            return "voice"
        if i % 10 == 5:
            return "wyoming"
        return "spoken" if i % self.voice_every == self.voice_every // 2 else "text"

    def turn(self, i: int) -> None:
        kind = self.kind(i)
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        d = self.daemon
        if kind == "kill":
            victim = ("asr", "llm", "tts")[(i // self.kill_every) % 3]
            model = d.call("status")["models"][victim]
            pid = next((m["pid"] for m in d.call("vram.status")["models"] if m["id"] == model and m.get("pid")), None)
            if pid:
                os.kill(pid, signal.SIGKILL)
                # As a crash between two turns: the next turn comes once the daemon has seen it (one that
                # races the death fails with "the worker was killed", which the reliability tests cover).
                deadline = time.monotonic() + 30
                while any(m.get("pid") == pid for m in d.call("vram.status")["models"]):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the daemon did not notice worker {pid} was killed within 30 s")
                    time.sleep(0.05)
            self.cold = True
        elif kind == "mcp":
            server = [p for p in children(d.proc.pid if d.proc else 0) if b"mcp_server.py" in _cmdline(p)]
            for pid in server:
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 60
            time.sleep(0.5)
            while not all(s["connected"] for s in d.call("mcp.status")):
                if time.monotonic() > deadline:
                    raise RuntimeError("the MCP server was not reconnected within 60 s")
                time.sleep(0.1)
        elif kind == "reload":
            self.paths.config_file.write_text(self.config + f"# reload {i}\n")
            d.call("config.reload")
            self.cold = True
        elif kind == "switch":
            d.call("llm.use", id=LLMS[(i // 25) % 2])
            self.cold = True
        elif kind == "voice":
            before = last_turn(d)
            d.call("ptt.press")
            self.pulse.mic.feed(self.clips[(i // 10) % len(self.clips)])
            self.pulse.mic.wait()
            time.sleep(0.3)
            d.call("ptt.release")
            deadline = time.monotonic() + 120
            while last_turn(d) == before or d.call("status")["state"] != "idle":
                if time.monotonic() > deadline:
                    raise RuntimeError(f"voice turn {i} did not finish within 120 s")
                time.sleep(0.05)
        elif kind == "wyoming":
            asyncio.run(transcribe("127.0.0.1", self.port, self.clips[i % len(self.clips)]))
        else:
            started = time.perf_counter()
            d.call("ask", text=QUESTIONS[i % len(QUESTIONS)], speak=kind == "spoken")
            took = time.perf_counter() - started
            if not self.cold and kind == "text":
                self.latency.append((i, i % len(QUESTIONS), took))
            self.cold = False

    def run(self) -> dict[str, Any]:
        with self.daemon:
            self.daemon.wait_warm()
            warm_up = max(50, self.turns // 10)
            for i in range(1, self.turns + 1):
                self.turn(i)
                if i % 10 == 9 or i == 1:
                    self.samples.append(self.sample(i))
            return self.report(warm_up)

    def report(self, warm_up: int) -> dict[str, Any]:
        after = [s for s in self.samples if s.turn >= warm_up] or self.samples
        base, last = after[0], self.samples[-1]
        # Each question's replies differ in length: the drift compares each turn with the median of the
        # same question over the run, so a decile is not slower for holding more of the long ones.
        typical = {q: statistics.median(t for _, k, t in self.latency if k == q) for q in {k for _, k, _ in self.latency}}
        deciles, relative = [], []
        for k in range(10):
            lo, hi = self.turns * k / 10, self.turns * (k + 1) / 10
            times = [(q, t) for n, q, t in self.latency if lo < n <= hi]
            deciles.append(round(statistics.median(t for _, t in times), 3) if times else None)
            relative.append(statistics.median(t / typical[q] for q, t in times) if times else None)
        known = [r for r in relative if r is not None]
        return {
            "turns": self.turns,
            "kinds": self.kinds,
            "warm_up_turns": warm_up,
            "seconds": round(time.monotonic() - self.started, 1),
            "daemon_rss_growth_mb": round(max(s.daemon_rss_mb for s in after) - base.daemon_rss_mb, 1),
            "fd_growth": fd_growth(after),
            # A leaked process outlives its worker: the end has more than any sample before it had.
            "children_growth": last.children - max(s.children for s in self.samples[:-1] or [last]),
            "zombies_at_end": last.zombies,
            "text_turn_latency_by_decile_s": deciles,
            "text_turn_latency_relative_by_decile": [round(r, 3) if r is not None else None for r in relative],
            "latency_drift": round(known[-1] / known[0] - 1, 3) if len(known) >= 2 else None,
            "samples": [asdict(s) for s in self.samples],
        }

    def close(self) -> None:
        self.pulse.close()


def fd_growth(samples: list[Sample]) -> int:
    """Descriptors gained between samples with as many workers up: each worker holds its pipes, and a
    worker killed (or evicted) comes back only when a turn needs it, so a sample may find one fewer."""
    by_children: dict[int, list[Sample]] = {}
    for sample in samples:
        by_children.setdefault(sample.children, []).append(sample)
    return max(group[-1].fds - group[0].fds for group in by_children.values())


def last_turn(daemon: DaemonProcess) -> str | None:
    turns = daemon.call("history", all=True, limit=1)
    return str(turns[-1]["id"]) if turns else None


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def print_table(result: dict[str, Any]) -> None:
    print(f"{'turn':>6} {'s':>7} {'daemon MB':>10} {'workers MB':>11} {'fds':>5} {'kids':>5} {'zombies':>8} "
          f"{'history KB':>11} {'state KB':>9}")
    for s in result["samples"]:
        print(f"{s['turn']:>6} {s['seconds']:>7} {s['daemon_rss_mb']:>10} {s['workers_rss_mb']:>11} {s['fds']:>5} "
              f"{s['children']:>5} {s['zombies']:>8} {s['history_kb']:>11} {s['state_kb']:>9}")
    print(f"\nturns {result['turns']} in {result['seconds']} s: {result['kinds']}")
    print(f"after warm-up (turn {result['warm_up_turns']}): daemon RSS +{result['daemon_rss_growth_mb']} MB (target <= 20), "
          f"fds {result['fd_growth']:+d}, children {result['children_growth']:+d}, zombies {result['zombies_at_end']} (target 0)")
    print(f"text-turn latency by decile (s): {result['text_turn_latency_by_decile_s']}")
    print(f"  against each question's median: {result['text_turn_latency_relative_by_decile']}; "
          f"drift (last decile / first - 1) {result['latency_drift']} (target <= 0.10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--kill-every", type=int, default=100, help="SIGKILL a model worker this often (0: never)")
    parser.add_argument("--voice-every", type=int, default=10, help="a voice turn this often (min 10)")
    parser.add_argument("--out", type=Path, default=Path("bench-results/soak.json"))
    args = parser.parse_args()
    soak = Soak(Path(tempfile.mkdtemp(prefix="assistant-soak-")), args.turns, args.kill_every, max(10, args.voice_every))
    try:
        result = soak.run()
    finally:
        soak.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print_table(result)
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()

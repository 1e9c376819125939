"""Speech and language engines, each behind a small interface (Transcriber, ChatModel, Synthesizer)."""

from .base import AudioChunk, ChatModel, Message, Segment, Synthesizer, Transcriber, Transcript

__all__ = ["AudioChunk", "ChatModel", "Message", "Segment", "Synthesizer", "Transcriber", "Transcript"]

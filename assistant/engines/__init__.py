"""Speech and language engines, each behind a small interface (Transcriber, ChatModel, Synthesizer)."""

from assistant.core.chat import Message
from assistant.core.speech import AudioChunk, Segment, Transcript
from assistant.engines.base import ChatModel, Synthesizer, Transcriber

__all__ = ["AudioChunk", "ChatModel", "Message", "Segment", "Synthesizer", "Transcriber", "Transcript"]

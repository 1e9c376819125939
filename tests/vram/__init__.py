"""Tests of assistant.vram."""

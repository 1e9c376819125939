"""Tests of assistant.audio."""

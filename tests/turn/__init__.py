"""Tests of assistant.turn."""

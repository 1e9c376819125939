"""Tests of assistant.engines."""

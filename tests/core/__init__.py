"""Tests of assistant.core."""

"""Tests of assistant.install."""

"""Tests of assistant.daemon."""

"""Tests of assistant.config."""

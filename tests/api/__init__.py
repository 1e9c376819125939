"""Tests of assistant.api."""

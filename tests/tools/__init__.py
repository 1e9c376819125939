"""Tests of assistant.tools."""

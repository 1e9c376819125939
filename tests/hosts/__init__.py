"""Tests of assistant.hosts."""

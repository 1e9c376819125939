"""Tests of assistant.wyoming."""

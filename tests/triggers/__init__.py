"""Tests of assistant.triggers."""

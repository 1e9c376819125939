"""Tests of assistant.keyboard."""

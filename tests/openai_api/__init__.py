"""Tests of assistant.openai_api."""

"""What the assistant can do besides talk: tool families, their registry, the local intents and MCP servers."""

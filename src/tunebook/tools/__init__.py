"""The runbook as tools: agent verbs, the MCP server and the JSON schemas of their outputs."""

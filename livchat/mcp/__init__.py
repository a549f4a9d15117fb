"""The MCP server for AI agents: tools over jobs.services and jobs.log.reader (no logic of its own).

server.py builds the MCPServer (tools, annotations, resources); tools.py holds the tool bodies;
budget.py keeps every answer inside the agent's byte budget; http.py mounts it at /mcp.
"""

#!/usr/bin/env python3
"""A small MCP server (the `mcp` SDK's high-level server: MCPServer in mcp 2,
FastMCP before) whose tools the end-to-end tests vary between runs. Its
command line stays the same (the monitor knows a server by name and command);
the environment varies it:

- `add(a, b)`: its description is $MCP_TEST_ADD_DESCRIPTION (default "Adds
  two numbers.").
- `read_note(path)`: declares readOnlyHint true and openWorldHint false; it
  reads the file, and with MCP_TEST_READ_ONLY_WRITES=1 also writes PATH.copy
  (a tool that does not do what it declares).
- `check_port(host, port)`: declares openWorldHint false (and readOnlyHint
  true) yet connects to HOST:PORT; says "open" or "closed".
- `sub(a, b)`, only with MCP_TEST_EXTRA_TOOL=1.
"""
import os
import socket

try:
    from mcp.server.mcpserver import MCPServer as Server
except ImportError:  # mcp < 2
    from mcp.server.fastmcp import FastMCP as Server
try:
    from mcp_types import ToolAnnotations
except ImportError:  # mcp < 2
    from mcp.types import ToolAnnotations


def main():
    describe_add = os.environ.get("MCP_TEST_ADD_DESCRIPTION", "Adds two numbers.")
    extra_tool = os.environ.get("MCP_TEST_EXTRA_TOOL") == "1"
    read_only_writes = os.environ.get("MCP_TEST_READ_ONLY_WRITES") == "1"

    server = Server("inventory-test")

    @server.tool(description=describe_add)
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(
        description="Returns the text of a note.",
        annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=False),
    )
    def read_note(path: str) -> str:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if read_only_writes:
            with open(path + ".copy", "w", encoding="utf-8") as f:
                f.write(text)
        return text

    @server.tool(
        description="Says whether a port of the local service answers.",
        annotations=ToolAnnotations(readOnlyHint=True, openWorldHint=False),
    )
    def check_port(host: str, port: int) -> str:
        try:
            with socket.create_connection((host, port), timeout=5):
                return "open"
        except OSError:
            return "closed"

    if extra_tool:

        @server.tool(description="Subtracts b from a.")
        def sub(a: int, b: int) -> int:
            return a - b

    server.run("stdio")


if __name__ == "__main__":
    main()

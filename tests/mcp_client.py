#!/usr/bin/env python3
"""A real MCP client (the official `mcp` Python SDK) for the end-to-end tests.

    mcp_client.py --call TOOL JSON_ARGS [--call TOOL JSON_ARGS ...] -- CMD [ARGS...]

Starts CMD as a stdio MCP server, initialises a session, lists the tools
({"tools": [names]}, or {"tools": null, "list_error"} when the list does not
validate), makes each call in order and prints one JSON line per call:
{"tool", "ok", "text"}. JSON_ARGS may be @FILE: the arguments are read from
FILE (for arguments too large for a command line).
Exits non-zero if the session cannot be set up.
"""
import argparse
import asyncio
import json
import os
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def run(command, calls):
    params = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            try:
                tools = await session.list_tools()
                print(json.dumps({"tools": sorted(t.name for t in tools.tools)}), flush=True)
            except Exception as e:  # noqa: BLE001
                # Old servers publish schemas today's SDK rejects ("type"
                # missing); their tools can still be called.
                print(json.dumps({"tools": None, "list_error": str(e).splitlines()[0]}), flush=True)
                # Nor would the SDK's check of each result, which lists the
                # tools again: declare that they have no output schema.
                for tool, _ in calls:
                    session._tool_output_schemas[tool] = None
            for tool, arguments in calls:
                result = await session.call_tool(tool, arguments)
                text = "".join(getattr(c, "text", "") for c in result.content)
                print(json.dumps({"tool": tool, "ok": not getattr(result, "is_error", getattr(result, "isError", False)), "text": text}), flush=True)


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit("usage: mcp_client.py --call TOOL JSON_ARGS ... -- CMD [ARGS...]")
    split = argv.index("--")
    parser = argparse.ArgumentParser()
    parser.add_argument("--call", nargs=2, action="append", default=[], metavar=("TOOL", "JSON_ARGS"))
    opts = parser.parse_args(argv[:split])
    def arguments(text):
        if text.startswith("@"):
            with open(text[1:], encoding="utf-8") as f:
                return json.load(f)
        return json.loads(text)

    calls = [(tool, arguments(args)) for tool, args in opts.call]
    asyncio.run(run(argv[split + 1:], calls))


if __name__ == "__main__":
    main()

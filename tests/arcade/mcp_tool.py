"""arcade-mcp-server, unchanged, gets a tool's Discord token from Latchkey (issue 7, item 5;
specs/arcade-compat.md §12.3, C10).

`python mcp_tool.py serve` is an MCP server (stdio) with one tool declared
`@app.tool(requires_auth=Discord(scopes=["identify", "guilds"]))` that calls the Discord
simulator's `/users/@me` with `context.get_auth_token_or_empty()`.

`python mcp_tool.py client` drives it as an MCP client would, over stdio JSON-RPC:
initialize → tools/list → tools/call (expects `isError` with the authorization URL and prints
`CONSENT <url>`) → waits for one line on stdin (services/server/tests/arcade_clients.rs consents
in the browser and confirms through the verifier, then writes it) → tools/call again, printing
`RESULT <json>`. Any failed step exits non-zero.

Environment: `ARCADE_API_KEY` (an app key), `ARCADE_API_URL` (Latchkey; arcade-mcp-server
ignores `ARCADE_BASE_URL`), `ARCADE_USER_ID`, `ARCADE_WORK_DIR` (an empty directory, or one
holding a `credentials.yaml` with an org/project context), `ARCADE_USAGE_TRACKING=0`, and
`LK_DISCORD_API` (the simulator's API base); `LK_PROVIDER_INSTANCE` pins a provider.
"""

import json
import os
import subprocess
import sys

HERE = os.path.abspath(__file__)


def serve() -> None:
    import httpx
    from arcade_mcp_server import Context, MCPApp
    from arcade_tdk.auth import Discord

    app = MCPApp(name="Latchkeyprobe", version="1.0.0", log_level="WARNING")
    instance = os.environ.get("LK_PROVIDER_INSTANCE") or None

    @app.tool(requires_auth=Discord(id=instance, scopes=["identify", "guilds"]))
    def whoami(context: Context) -> dict:
        """The Discord user the token belongs to."""
        token = context.get_auth_token_or_empty()
        r = httpx.get(
            f"{os.environ['LK_DISCORD_API']}/users/@me",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        r.raise_for_status()
        return {
            "discord_username": r.json()["username"],
            "user_info_id": (context.authorization.user_info or {}).get("id"),
            "user_id": context.user_id,
        }

    app.run(transport="stdio")


def fail(what: str, code: int) -> None:
    print(f"FAILED: {what}", file=sys.stderr, flush=True)
    sys.exit(code)


def client() -> None:
    server = subprocess.Popen(
        [sys.executable, HERE, "serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
    )
    ids = iter(range(1, 1000))

    def request(method: str, params: dict | None = None, notify: bool = False) -> dict | None:
        msg = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        if not notify:
            msg["id"] = next(ids)
        server.stdin.write(json.dumps(msg) + "\n")
        server.stdin.flush()
        if notify:
            return None
        while True:
            line = server.stdout.readline()
            if not line:
                fail(f"the server exited ({server.poll()})", 1)
            reply = json.loads(line)
            if reply.get("id") == msg["id"]:
                if "error" in reply:
                    fail(f"{method}: {reply['error']}", 1)
                return reply["result"]

    request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                           "clientInfo": {"name": "latchkey-test", "version": "0"}})
    request("notifications/initialized", notify=True)
    names = [t["name"] for t in request("tools/list")["tools"]]
    tool = next((n for n in names if n.lower().endswith("whoami")), None)
    if tool is None:
        fail(f"no whoami tool in {names}", 1)

    def call() -> dict:
        return request("tools/call", {"name": tool, "arguments": {}})

    first = call()
    url = None
    for item in first.get("content", []):
        try:
            url = json.loads(item.get("text", "")).get("authorization_url") or url
        except (ValueError, AttributeError):
            pass
    if not first.get("isError") or not url:
        fail(f"the first call must ask for authorization: {first}", 2)
    print(f"CONSENT {url}", flush=True)
    if not sys.stdin.readline():
        fail("no consent signal", 3)
    second = call()
    if second.get("isError"):
        fail(f"the second call failed: {second}", 4)
    print("RESULT " + json.dumps(second.get("structuredContent")), flush=True)
    server.stdin.close()
    server.wait(10)


if __name__ == "__main__":
    serve() if sys.argv[1:] == ["serve"] else client()

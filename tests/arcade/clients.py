"""arcadepy, unchanged, against a live Latchkey and the Discord simulator (issue 5, item 7).

Run by services/server/tests/arcade_clients.rs, which starts Latchkey, the simulator and a
tenant app with a verifier, and plays the user's browser: this script prints
`CONSENT <app user> <discord account> <url>` or `DENY <url>` when a human would act, and
`OK <scenario>` after each scenario holds. Any failed check exits non-zero.
"""

import os
import sys

from arcadepy import Arcade, AuthenticationError, NotFoundError, PermissionDeniedError

D_ALICE = os.environ["LK_D_ALICE"]


def say(*parts: str) -> None:
    print(*parts, flush=True)


def check(cond: bool, what: str) -> None:
    if not cond:
        print(f"FAILED: {what}", file=sys.stderr, flush=True)
        sys.exit(1)


client = Arcade()  # ARCADE_API_KEY and ARCADE_BASE_URL from the environment

# C1: start → consent → verifier → confirm_user → wait_for_completion.
r = client.auth.start("alice", "discord", scopes=["guilds"])
check(r.status == "pending" and bool(r.url) and bool(r.id), f"start is pending: {r}")
check(set(r.scopes or []) >= {"guilds", "identify"}, f"scopes: {r.scopes}")
say("CONSENT", "alice", "alice", r.url)
done = client.auth.wait_for_completion(r)
check(done.status == "completed", f"completed: {done}")
check(done.id == r.id, "the same authorization id")
token = done.context.token
check(bool(token), "a token")
check(done.context.user_info["id"] == D_ALICE, f"user_info: {done.context.user_info}")
say("OK", "C1")

# C2: an already-authorized user gets completed at once; wait_for_completion sends nothing.
again = client.auth.start("alice", "discord", scopes=["guilds"])
check(again.status == "completed" and again.context.token == token, f"completed at once: {again}")
check(again.url is None, "no url")
check(client.auth.wait_for_completion(again).status == "completed", "wait on completed")
say("OK", "C2")

# C3: scope upgrade; the old grant serves until the upgrade completes.
up = client.auth.start("alice", "discord", scopes=["email"])
check(up.status == "pending", f"upgrade is pending: {up}")
check(set(up.scopes or []) == {"email", "guilds", "identify"}, f"incremental: {up.scopes}")
old = client.auth.start("alice", "discord", scopes=["guilds"])
check(old.status == "completed" and old.context.token == token, "old grant still serves")
say("CONSENT", "alice", "alice", up.url)
upgraded = client.auth.wait_for_completion(up)
check(upgraded.status == "completed", f"upgrade completed: {upgraded}")
check("email" in (upgraded.scopes or []), f"upgraded scopes: {upgraded.scopes}")
check(upgraded.context.user_info.get("email") == "alice@example.com", "email in user_info")
try:
    client.auth.start("alice", "discord", scopes=["connections"])
    check(False, "a scope the provider lacks is refused")
except PermissionDeniedError as e:
    check(e.body["name"] == "scope_not_allowed", f"scope_not_allowed: {e.body}")
say("OK", "C3")

# C4: failed flows — consent denied at Discord; another person's Discord account.
denied = client.auth.start("bob", "discord", scopes=["guilds"])
say("DENY", denied.url)
st = client.auth.status(id=denied.id, wait=30)
check(st.status == "failed", f"denied → failed: {st}")
check(st.url is None and st.context is None, "failed carries neither url nor context")
hijack = client.auth.start("mallory", "discord", scopes=["guilds"])
say("CONSENT", "bob", "bob", hijack.url)
st = client.auth.status(id=hijack.id, wait=30)
check(st.status == "failed", f"user mismatch → failed: {st}")
say("OK", "C4")

# C5: a bad key.
bad = Arcade(api_key="lk_key_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa_wrong", base_url=os.environ["ARCADE_BASE_URL"])
try:
    bad.auth.start("alice", "discord")
    check(False, "a bad key is refused")
except AuthenticationError as e:
    check(e.body["name"] == "unauthorized", f"unauthorized: {e.body}")
say("OK", "C5")

# C6: unknown authorization ids.
for call in (
    lambda: client.auth.status(id="auth_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    lambda: client.auth.wait_for_completion("nope"),
):
    try:
        call()
        check(False, "an unknown id is refused")
    except NotFoundError as e:
        check(e.body["name"] == "not_found", f"not_found: {e.body}")
say("OK", "C6")

# C7: tools.authorize — the registered tool's declaration decides provider and scopes.
D_BOB = os.environ["LK_D_BOB"]
t = client.tools.authorize(tool_name="Discord.Whoami", user_id="bob")
check(t.status == "pending" and bool(t.url), f"tool authorization pending: {t}")
check(set(t.scopes or []) == {"identify"}, f"the tool's scopes: {t.scopes}")
say("CONSENT", "bob", "bob", t.url)
t_done = client.auth.wait_for_completion(t)
check(t_done.status == "completed" and t_done.context.user_info["id"] == D_BOB, f"tool done: {t_done}")
check(client.tools.authorize(tool_name="Discord_Whoami", user_id="bob").status == "completed", "again: completed")
d = client.tools.get("Discord.Whoami", user_id="bob")
check(d.requirements.met is True, f"met for bob: {d.requirements}")
check(client.tools.get("Discord.Whoami", user_id="carol").requirements.met is False, "not met for carol")
try:
    client.tools.authorize(tool_name="Discord.Nope", user_id="bob")
    check(False, "an unknown tool is refused")
except NotFoundError as e:
    check(e.body["name"] == "not_found", f"not_found: {e.body}")
say("OK", "C7")

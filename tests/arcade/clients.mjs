// @arcadeai/arcadejs, unchanged, against a live Latchkey and the Discord simulator (issue 5,
// item 7). Run by services/server/tests/arcade_clients.rs with the same line protocol as
// clients.py: `CONSENT <app user> <discord account> <url>`, `DENY <url>`, `OK <scenario>`.
import Arcade from '@arcadeai/arcadejs';

const D_ALICE = process.env.LK_D_ALICE;
const say = (...parts) => process.stdout.write(parts.join(' ') + '\n');
const check = (cond, what) => {
  if (!cond) {
    process.stderr.write(`FAILED: ${what}\n`);
    process.exit(1);
  }
};
const refuses = async (promise, Kind, name) => {
  try {
    await promise;
  } catch (e) {
    check(e instanceof Kind, `${Kind.name}: ${e}`);
    check(e.error?.name === name, `${name}: ${JSON.stringify(e.error)}`);
    return;
  }
  check(false, `expected ${Kind.name}`);
};

const client = new Arcade(); // ARCADE_API_KEY and ARCADE_BASE_URL from the environment

// C1
const r = await client.auth.start('alice', 'discord', { scopes: ['guilds'] });
check(r.status === 'pending' && r.url && r.id, `pending: ${JSON.stringify(r)}`);
say('CONSENT', 'alice', 'alice', r.url);
const done = await client.auth.waitForCompletion(r);
check(done.status === 'completed' && done.id === r.id, `completed: ${JSON.stringify(done)}`);
const token = done.context.token;
check(token && done.context.user_info.id === D_ALICE, 'token and user_info');
say('OK', 'C1');

// C2
const again = await client.auth.start('alice', 'discord', { scopes: ['guilds'] });
check(again.status === 'completed' && again.context.token === token, 'completed at once');
check((await client.auth.waitForCompletion(again)).status === 'completed', 'wait on completed');
say('OK', 'C2');

// C3
const up = await client.auth.start('alice', 'discord', { scopes: ['email'] });
check(up.status === 'pending', 'upgrade pending');
check(['email', 'guilds', 'identify'].every((s) => up.scopes.includes(s)), `incremental: ${up.scopes}`);
say('CONSENT', 'alice', 'alice', up.url);
const upgraded = await client.auth.waitForCompletion(up);
check(upgraded.status === 'completed' && upgraded.scopes.includes('email'), 'upgraded');
await refuses(client.auth.start('alice', 'discord', { scopes: ['connections'] }), Arcade.PermissionDeniedError, 'scope_not_allowed');
say('OK', 'C3');

// C4
const denied = await client.auth.start('bob', 'discord', { scopes: ['guilds'] });
say('DENY', denied.url);
const st = await client.auth.status({ id: denied.id, wait: 30 });
check(st.status === 'failed' && !st.url && !st.context, `failed: ${JSON.stringify(st)}`);
say('OK', 'C4');

// C5
const bad = new Arcade({ apiKey: 'lk_key_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa_wrong', baseURL: process.env.ARCADE_BASE_URL });
await refuses(bad.auth.start('alice', 'discord'), Arcade.AuthenticationError, 'unauthorized');
say('OK', 'C5');

// C6
await refuses(client.auth.status({ id: 'auth_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa' }), Arcade.NotFoundError, 'not_found');
await refuses(client.auth.waitForCompletion('nope'), Arcade.NotFoundError, 'not_found');
say('OK', 'C6');

// C7
const t = await client.tools.authorize({ tool_name: 'Discord.Whoami', user_id: 'bob' });
check(t.status === 'pending' && t.url && t.scopes.join() === 'identify', `tool pending: ${JSON.stringify(t)}`);
say('CONSENT', 'bob', 'bob', t.url);
const tDone = await client.auth.waitForCompletion(t);
check(tDone.status === 'completed' && tDone.context.user_info.id === process.env.LK_D_BOB, 'tool done');
check((await client.tools.get('Discord.Whoami', { user_id: 'bob' })).requirements.met === true, 'met for bob');
await refuses(client.tools.authorize({ tool_name: 'Discord.Nope', user_id: 'bob' }), Arcade.NotFoundError, 'not_found');
say('OK', 'C7');

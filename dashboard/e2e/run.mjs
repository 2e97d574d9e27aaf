// The dashboard end to end, in real headless Chromium (Debian's `chromium`, driven by
// playwright-core) against a live Latchkey and the Discord simulator, started by
// services/server/tests/dashboard_e2e.rs. Line protocol on stdout: `FLOW <user>` asks the
// harness to complete an authorization for <user> (it answers with a line on stdin), `OK <step>`
// after each step holds. Screenshots of each main page go to $SCREENSHOTS.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { mkdirSync } from 'node:fs';

const base = process.env.LATCHKEY_URL;
const admin = process.env.ADMIN_KEY;
const shots = process.env.SCREENSHOTS;
const verifier = process.env.VERIFIER_URL;
// The Discord simulator (providers' `endpoint_origin`).
const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();
const say = (...parts) => process.stdout.write(parts.join(' ') + '\n');
const check = (cond, what) => {
  if (!cond) throw new Error(`FAILED: ${what}`);
};
const shown = (locator, what) =>
  locator
    .first()
    .waitFor({ timeout: 10000 })
    .catch(() => {
      throw new Error(`FAILED: ${what}`);
    });
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
const cspViolations = [];
page.on('console', (m) => {
  if (m.type() === 'error' && /Content Security Policy|Refused to/.test(m.text())) cspViolations.push(m.text());
});
const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
const go = async (title) => {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: title, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: title }).waitFor();
};

try {
  // Sign in: a wrong key is refused with the server's words; the admin key signs in, and the
  // key is nowhere in the browser afterwards.
  await page.goto(`${base}/dashboard/`);
  await page.getByLabel('Admin key').waitFor();
  await shot('sign-in');
  await page.getByLabel('Admin key').fill('lk_key_0190aaaaaaaaaaaaaaaaaaaaaaaaaaaa_wrong');
  await page.keyboard.press('Enter');
  await page.getByRole('alert').waitFor();
  check((await page.getByRole('alert').textContent()).includes('not a valid key'), 'a wrong key is explained');
  await page.getByLabel('Admin key').fill(admin);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Providers' }).waitFor();
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name === 'latchkey_session');
  check(session && session.httpOnly && session.sameSite === 'Strict', `session cookie: ${JSON.stringify(cookies)}`);
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
  check(!stored.includes('lk_key_') && !stored.includes(session.value), 'no key or session readable by scripts');
  say('OK', 'sign-in');

  // Providers: the existing one is listed; add a second Discord application.
  await shown(page.getByText('discord-prod').first(), 'the existing provider is listed');
  await page.getByRole('button', { name: 'Add a provider' }).click();
  await page.getByLabel('Id', { exact: true }).fill('discord-second');
  await page.getByLabel('Description').fill('A second Discord app');
  await page.getByLabel('Client ID').fill('12');
  await shown(page.getByText('A Discord application id is 17 to 20 digits.'), 'client id validated as typed');
  await page.getByLabel('Client ID').fill('1300000000000000077');
  await page.getByLabel('Client secret').fill('second-app-secret-value');
  await page.getByLabel('guilds — The servers the user is in.').check();
  await page.getByText('Advanced').click();
  await page.getByLabel('Discord endpoint origin').fill(process.env.SIM_ORIGIN);
  await shot('provider-form');
  await page.getByRole('button', { name: 'Add provider' }).click();
  const redirect = await page.getByTestId('redirect-uri').textContent();
  check(redirect.startsWith(`${base}/oauth/callback/prv_`), `redirect URI shown: ${redirect}`);
  await shown(page.getByRole('cell', { name: /discord-second/ }), 'the new provider is listed');
  check(!(await page.content()).includes('second-app-secret-value'), 'the secret is never shown back');
  // "Test" asks Discord about the credentials: the simulator knows discord-prod's app, not the
  // new one.
  await page.getByRole('row').filter({ hasText: 'discord-prod' }).getByRole('button', { name: 'Test' }).click();
  await shown(page.getByTestId('check').filter({ hasText: 'Discord accepted' }), 'good credentials confirmed');
  await page.getByRole('row').filter({ hasText: 'discord-second' }).getByRole('button', { name: 'Test' }).click();
  await shown(page.getByTestId('check').filter({ hasText: 'Discord refused' }), 'bad credentials explained');
  await shot('providers');
  // Delete the second one again.
  page.once('dialog', (d) => d.accept());
  await page.getByRole('row').filter({ hasText: 'discord-second' }).getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('cell', { name: /discord-second/ }).waitFor({ state: 'detached' });
  say('OK', 'provider');

  // Tools: register one; its key is shown once.
  await go('Tools');
  await page.getByRole('button', { name: 'Register a tool' }).click();
  await page.getByLabel('Name', { exact: true }).fill('Discord.ListServers');
  await page.getByLabel('Provider').selectOption('discord-prod');
  await page.getByLabel('guilds — The servers the user is in.').check();
  await page.getByRole('button', { name: 'Register', exact: true }).click();
  const key = await page.getByTestId('secret').textContent();
  check(key.startsWith('lk_key_'), 'the tool key is shown once');
  await shot('tools');
  await page.getByRole('button', { name: 'I have stored it' }).click();
  check(!(await page.content()).includes(key), 'and then gone');
  await shown(page.getByRole('cell', { name: /Discord.ListServers/ }), 'the tool is listed');
  // Edit it: the declared scopes change.
  await page.getByRole('row').filter({ hasText: 'Discord.ListServers' }).getByRole('button', { name: 'Edit' }).click();
  await page.getByLabel('Version').fill('1.1.0');
  await page.getByLabel('email — The user').check();
  await page.getByRole('button', { name: 'Save' }).click();
  await shown(page.getByRole('cell', { name: 'email guilds identify' }), 'the edited scopes are listed');
  say('OK', 'tool');

  // Verification: skipping it puts a banner on every page until it is turned off (V-T14).
  await go('Verification');
  const banner = page.getByRole('alert').filter({ hasText: 'User verification is off' });
  check((await banner.count()) === 0, 'no banner while verification is on');
  await page.getByLabel(/Skip verification/).check();
  await page.getByRole('button', { name: 'Save' }).click();
  await banner.waitFor();
  await go('Providers');
  await shown(banner, 'the banner stays on other pages');
  await shot('verification-skipped');
  await go('Verification');
  await page.getByLabel(/Skip verification/).uncheck();
  await page.getByRole('button', { name: 'Save' }).click();
  await banner.waitFor({ state: 'detached' });
  say('OK', 'skip-banner');

  // Then set the verifier (a server error is shown for a bad URL first).
  await page.getByLabel('Verifier URL').fill('https://192.0.2.1/verify');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('alert').waitFor();
  await page.getByLabel('Verifier URL').fill(verifier);
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Saved.').waitFor();
  // Test my verifier: a self-test flow for alice, opened in a browser signed in to the tenant's
  // app as alice, which its verifier confirms.
  await page.getByLabel("Your app's user id").fill('alice');
  await page.getByRole('button', { name: 'Start a test' }).click();
  const testLink = await page.getByRole('link', { name: 'your verifier with the test flow' }).getAttribute('href');
  check(testLink.startsWith(`${verifier}?flow_id=`), `test link: ${testLink}`);
  await shot('verification');
  const tester = await context.newPage();
  await tester.goto(`${process.env.TENANT_APP}/login?user=alice`);
  await tester.goto(testLink);
  await shown(tester.getByText('Verifier test passed'), 'the verifier confirmed the test flow');
  await tester.close();
  say('OK', 'verifier');

  // Connections: after a user completes a flow, the connection appears; revoke it.
  say('FLOW', 'alice');
  await lines.next();
  await go('Connections');
  await page.getByLabel('Search by user id or Discord user').fill('alice');
  await page.getByRole('cell', { name: 'alice', exact: true }).waitFor();
  await shown(page.getByRole('cell', { name: 'guilds identify' }), 'granted scopes shown');
  await shown(page.getByRole('cell', { name: /refreshed automatically/ }), 'token expiry shown');
  await shot('connections');
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Revoke' }).click();
  await page.getByText("Revoked alice's connection.").waitFor();
  await page
    .getByRole('cell', { name: 'alice', exact: true })
    .waitFor({ state: 'detached', timeout: 10000 })
    .catch(() => check(false, 'the connection is gone'));
  say('OK', 'connection');

  // Authorizations: a live list — one started now appears without a reload.
  await go('Authorizations');
  await shown(page.getByRole('row').filter({ hasText: 'alice' }).filter({ hasText: 'completed' }), "alice's completed authorization");
  say('START', 'bob');
  await lines.next();
  await shown(page.getByRole('row').filter({ hasText: 'bob' }).filter({ hasText: 'pending' }), "bob's new authorization, live");
  await shot('authorizations');
  say('OK', 'authorizations');

  // Usage: the chart counts them.
  await go('Usage');
  await shown(page.getByText(/Authorizations started: [2-9]/), 'authorizations counted');
  await shown(page.getByText(/Authorizations completed: [1-9]/), 'completions counted');
  await shot('usage');
  say('OK', 'usage');

  // API keys and the audit log.
  await go('API keys');
  await page.getByLabel('Name', { exact: true }).fill('e2e app key');
  await page.getByRole('button', { name: 'Create key' }).click();
  check((await page.getByTestId('secret').textContent()).startsWith('lk_key_'), 'new key shown once');
  await shot('api-keys');
  await page.getByRole('button', { name: 'I have stored it' }).click();
  page.once('dialog', (d) => d.accept());
  await page.getByRole('row').filter({ hasText: 'e2e app key' }).getByRole('button', { name: 'Revoke' }).click();
  await shown(page.getByRole('row').filter({ hasText: 'e2e app key' }).getByText(/revoked/), 'the key is revoked');
  await go('Audit log');
  await page.getByLabel('Action').fill('provider.create');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByRole('cell', { name: 'provider.create' }).first().waitFor();
  await shot('audit-log');
  say('OK', 'keys-and-audit');

  // Keyboard: the navigation is reachable and usable with Tab and Enter.
  await page.keyboard.press('Home');
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Providers', exact: true }).focus();
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Tools' }).waitFor();
  // Phone width: nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await go('Connections');
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  check(wide <= 390, `no horizontal scrolling at phone width (${wide}px)`);
  await shot('phone');
  say('OK', 'accessible');

  // Sign out ends the session.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Admin key').waitFor();
  const r = await page.evaluate(async () => (await fetch('/v1/admin/api_keys')).status);
  check(r === 401, `signed out: ${r}`);
  check(cspViolations.length === 0, `no content-security-policy violations: ${cspViolations.join('; ')}`);
  say('OK', 'sign-out');
} catch (e) {
  await shot('failure').catch(() => {});
  process.stderr.write(`${e.stack || e}\n`);
  process.exitCode = 1;
} finally {
  await browser.close();
  input.close();
}

// The console on a server with a credentials file: it asks to sign in, refuses a wrong secret
// in the server's words, then shows and does what the key's account may (its queues, not
// another account's), and signing out ends the session. Its API refuses calls without a
// session, and the session cookie is HttpOnly and SameSite=Strict.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { WAIT, screenshot, startConsole } from '../helpers.mjs';

const ONE = { key: 'AKIAEXAMPLEONE000001', secret: 'secret-of-key-one-0123456789', account: '111111111111' };
const TWO = { key: 'AKIAEXAMPLETWO000002', secret: 'secret-of-key-two-0123456789', account: '222222222222' };

let ui;
let server;
let browser;
let tab;
let page;

before(async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'redrive-signin-'));
  const file = path.join(dir, 'credentials.toml');
  const entry = (k) => `[[keys]]\naccess_key_id = "${k.key}"\nsecret_access_key = "${k.secret}"\naccount_id = "${k.account}"\n`;
  writeFileSync(file, entry(ONE) + '\n' + entry(TWO));
  ui = await startConsole(['--credentials', file]);
  ({ server, browser, tab, page } = ui);
});

after(async () => {
  await ui?.close();
});

async function signIn(k) {
  await page.goto(server.endpoint + '/console');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor(WAIT);
  await page.getByLabel('Access key ID').fill(k.key);
  await page.getByLabel('Secret access key').fill(k.secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('the console asks to sign in, refuses a wrong secret, and acts as the signed-in account', async () => {
  // Unsigned API calls are refused, as on a signed server.
  const unsigned = await fetch(server.endpoint + '/', {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': 'AmazonSQS.ListQueues' },
    body: '{}',
  });
  assert.equal(unsigned.status, 403);

  await signIn({ ...ONE, secret: 'not-the-secret-0123456789' });
  await page.getByText('AccessDenied: The access key or its secret is wrong.').waitFor(WAIT);
  tab.takeErrors(); // the refused sign-in's 403, as the browser logs it

  await signIn(ONE);
  await page.getByText(`Account ${ONE.account}`).waitFor(WAIT);
  await page.getByLabel('Search queues by name').waitFor(WAIT);
  const cookies = await browser.context.cookies(server.endpoint + '/console/api');
  const session = cookies.find((c) => c.name === 'redrive_session');
  assert.ok(session, 'a session cookie');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');

  // A queue created from the console is the account's.
  await page.getByRole('link', { name: 'Create queue' }).click();
  await page.getByLabel('Name', { exact: true }).fill('signed-orders');
  await page.getByRole('button', { name: 'Create queue' }).click();
  await page.getByRole('heading', { name: 'signed-orders' }).waitFor(WAIT);
  await page.getByText(`arn:aws:sqs:us-east-1:${ONE.account}:signed-orders`).first().waitFor(WAIT);
  await screenshot(page, 'signed-in');

  // Signing out ends the session: the sign-in form again, and the old cookie opens nothing.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor(WAIT);
  const token = await page.evaluate(() => document.querySelector('meta[name="redrive-console-token"]').content);
  const replay = await fetch(server.endpoint + '/console/api', {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-amz-json-1.0',
      'X-Amz-Target': 'AmazonSQS.ListQueues',
      'X-Redrive-Console-Token': token,
      Cookie: `redrive_session=${session.value}`,
    },
    body: '{}',
  });
  assert.equal(replay.status, 403);
  assert.match(await replay.text(), /Sign in to the console first/);

  // The other account sees none of account one's queues.
  await signIn(TWO);
  await page.getByText(`Account ${TWO.account}`).waitFor(WAIT);
  await page.getByLabel('Search queues by name').waitFor(WAIT);
  await page.waitForTimeout(500);
  assert.equal(await page.getByText('signed-orders').count(), 0);
  tab.expectNoErrors();
});

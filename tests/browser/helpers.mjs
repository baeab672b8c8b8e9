// Shared setup of the console's browser tests: a redrive process (real clock, in memory), a
// headless Debian Chromium driven by playwright-core (no downloaded browser), a page that
// fails the test on any console error, and screenshots under target/console-screenshots/.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const BIN = process.env.REDRIVE_BIN || path.join(ROOT, 'target', 'debug', 'redrive');
export const CHROMIUM = process.env.REDRIVE_CHROMIUM || '/usr/bin/chromium';
export const SHOTS = path.join(ROOT, 'target', 'console-screenshots');
export const ACCOUNT = '000000000000';
/** How long a person would wait for something to show: the console refreshes every 2 s. */
export const WAIT = { timeout: 15_000 };

export async function startServer(extraArgs = []) {
  if (!existsSync(BIN)) throw new Error(`redrive binary not found at ${BIN}: run cargo build -p redrive --bins`);
  const child = spawn(BIN, ['--in-memory', '--bind', '127.0.0.1:0', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REDRIVE_'))),
  });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (c) => {
    log = (log + c).slice(-32_000);
  });
  const exited = once(child, 'exit');
  const first = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redrive did not start within 30 s\n${log}`)), 30_000);
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    exited.then(([code]) => reject(new Error(`redrive exited (${code}) before listening\n${log}`)));
  });
  const endpoint = /^redrive listening on (http:\/\/\S+)/.exec(first)[1];
  /** The server's JSON API itself, for setup and checks the test does not need to click through. */
  async function call(target, input) {
    const res = await fetch(endpoint + '/', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': target },
      body: JSON.stringify(input || {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${target}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : {};
  }
  return {
    endpoint,
    api: (action, input) => call('AmazonSQS.' + action, input),
    /** The extension API (docs/extension-api.md): `ext('PeekMessages', {...})`. */
    ext: (operation, input) => call('Redrive_v1.' + operation, input),
    queueUrl: (name) => `${endpoint}/${ACCOUNT}/${name}`,
    queueArn: (name) => `arn:aws:sqs:us-east-1:${ACCOUNT}:${name}`,
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Headless Chromium with a fresh profile; `close()` removes the profile too. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  const profile = mkdtempSync(path.join(os.tmpdir(), 'redrive-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * A page whose console errors, uncaught exceptions and CSP violations are collected:
 * `expectNoErrors()` fails the test on any, `takeErrors()` hands over (and clears) the
 * ones a step expects.
 */
export async function openPage(browser) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push('uncaught: ' + e.message));
  return {
    page,
    takeErrors: () => errors.splice(0, errors.length),
    expectNoErrors() {
      if (errors.length) throw new Error('browser console errors:\n' + errors.join('\n'));
    },
  };
}

let shot = 0;
/** Save a screenshot of the whole page as target/console-screenshots/NN-name.png. */
export async function screenshot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  shot += 1;
  const file = path.join(SHOTS, `${String(shot).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * What every browser test file starts with: a server (`serverArgs`), Chromium, one watched page
 * with the 15 s patience a person has; `close()` stops all of it.
 */
export async function startConsole(serverArgs = []) {
  const server = await startServer(serverArgs);
  const browser = await launchBrowser();
  const tab = await openPage(browser);
  tab.page.setDefaultTimeout(15_000);
  return {
    server,
    browser,
    tab,
    page: tab.page,
    async close() {
      await browser.close();
      await server.stop();
    },
  };
}

/**
 * `test` for steps that build on each other: after a failed one the rest are skipped, not failed
 * again, and the failing page is saved as a screenshot named `shot`.
 */
export function stepsInOrder(nodeTest, page, shot) {
  let broken = null;
  return (name, fn) =>
    nodeTest(name, async (t) => {
      if (broken) return t.skip(`an earlier step failed: ${broken}`);
      try {
        await fn(t);
      } catch (e) {
        broken = name;
        await screenshot(page(), shot).catch(() => {});
        throw e;
      }
    });
}

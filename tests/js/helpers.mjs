// Shared helpers for the JS end-to-end tests: start a redrive process, move its clock,
// compute SQS MD5 digests.
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.AWS_CONFIG_FILE = '/dev/null';
process.env.AWS_SHARED_CREDENTIALS_FILE = '/dev/null';
process.env.AWS_EC2_METADATA_DISABLED = 'true';
delete process.env.AWS_PROFILE;
delete process.env.AWS_ENDPOINT_URL;
delete process.env.AWS_ENDPOINT_URL_SQS;

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, '..', '..');
export const BIN = process.env.REDRIVE_BIN || path.join(ROOT, 'target', 'debug', 'redrive');
export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';
export const CREDENTIALS = { accessKeyId: 'AKIDREDRIVETEST', secretAccessKey: 'redrive-test-secret' };
const LISTEN_RE = /^redrive listening on (http:\/\/127\.0\.0\.1:(\d+))\s*$/;

export async function startServer(extraArgs = []) {
  if (!existsSync(BIN)) {
    throw new Error(`redrive binary not found at ${BIN}: run cargo build -p redrive --bins or set REDRIVE_BIN`);
  }
  const child = spawn(BIN, ['--in-memory', '--bind', '127.0.0.1:0', '--manual-clock', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REDRIVE_'))),
      RUST_BACKTRACE: '1',
    },
  });
  let log = '';
  const keep = (chunk) => {
    log += chunk;
    if (log.length > 64_000) log = log.slice(-32_000);
  };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', keep);
  let exitCode = null;
  const exited = once(child, 'exit').then(([code, signal]) => {
    exitCode = code ?? signal;
    return exitCode;
  });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redrive did not report listening within 30s\n${log}`)), 30_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`redrive exited (${code}) before listening\n${log}`));
    });
  });
  lines.on('line', (line) => keep(`${line}\n`));
  const match = LISTEN_RE.exec(first);
  if (!match) {
    child.kill('SIGKILL');
    throw new Error(`unexpected first stdout line from redrive: ${JSON.stringify(first)}`);
  }
  const endpoint = match[1];
  return {
    endpoint,
    port: Number(match[2]),
    log: () => log,
    queueUrl: (name) => `${endpoint}/${ACCOUNT}/${name}`,
    queueArn: (name) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`,
    /** Move the server's manual clock; resolves to the new time in epoch ms. */
    async advance(seconds) {
      const res = await fetch(`${endpoint}/_redrive/clock/advance?ms=${Math.round(seconds * 1000)}`, { method: 'POST' });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`clock advance answered ${res.status}: ${text}`);
      return JSON.parse(text).now_ms;
    },
    /** SIGTERM, then SIGKILL after 10 s; resolves to the exit code. */
    async stop() {
      if (exitCode !== null) return exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export function unique(prefix) {
  return `${prefix}-${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

export function md5Hex(data) {
  return createHash('md5').update(typeof data === 'string' ? Buffer.from(data, 'utf8') : data).digest('hex');
}

function field(buf) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return [len, buf];
}

/** MD5OfMessageAttributes as SQS computes it (attributes sorted by name). */
export function md5OfAttributes(attributes) {
  const parts = [];
  for (const name of Object.keys(attributes).sort()) {
    const attr = attributes[name];
    parts.push(...field(Buffer.from(name, 'utf8')), ...field(Buffer.from(attr.DataType, 'utf8')));
    if (attr.StringValue !== undefined && attr.StringValue !== null) {
      parts.push(Buffer.from([1]), ...field(Buffer.from(attr.StringValue, 'utf8')));
    } else {
      parts.push(Buffer.from([2]), ...field(Buffer.from(attr.BinaryValue)));
    }
  }
  return md5Hex(Buffer.concat(parts));
}

/** Only the fields a sender sets, with binary values as Buffers. */
export function plainAttributes(attrs) {
  const out = {};
  for (const [name, attr] of Object.entries(attrs || {})) {
    const entry = { DataType: attr.DataType };
    if (attr.StringValue !== undefined && attr.StringValue !== null) entry.StringValue = attr.StringValue;
    if (attr.BinaryValue !== undefined && attr.BinaryValue !== null) entry.BinaryValue = Buffer.from(attr.BinaryValue);
    out[name] = entry;
  }
  return out;
}

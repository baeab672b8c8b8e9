// The JavaScript recipes of docs/clients.md, read out of the page and run against a fresh
// server (the block after `<!-- recipe: NAME -->`, its http://127.0.0.1:9324 replaced by the
// server's address), then checked as their user would: what they print, what they leave.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import * as SQS from '@aws-sdk/client-sqs';

import { CREDENTIALS, REGION, ROOT, startServer } from '../helpers.mjs';

const DOC_ENDPOINT = 'http://127.0.0.1:9324';

function recipe(name, endpoint) {
  const page = readFileSync(path.join(ROOT, 'docs', 'clients.md'), 'utf8');
  const found = new RegExp(`<!-- recipe: ${name} -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\``).exec(page);
  assert.ok(found, `no recipe ${name} in docs/clients.md`);
  assert.ok(found[1].includes(DOC_ENDPOINT), `recipe ${name} does not name ${DOC_ENDPOINT}`);
  return found[1].replaceAll(DOC_ENDPOINT, endpoint);
}

// A scratch directory inside tests/js, so the recipe's imports resolve from its node_modules.
let scratch;
before(() => {
  scratch = mkdtempSync(path.join(ROOT, 'tests', 'js', '.recipe-'));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

function moduleFile(name, code) {
  const file = path.join(scratch, `${name}.mjs`);
  writeFileSync(file, code);
  return file;
}

/** A user's environment: no AWS settings of the test run's. */
function userEnv() {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
}

async function runModule(name, code) {
  const { stdout } = await promisify(execFile)(process.execPath, [moduleFile(name, code)], {
    env: userEnv(),
    timeout: 60_000,
  });
  return stdout;
}

/** A recipe that runs until stopped (a worker), its output gathered as it comes. */
function startModule(name, code) {
  const child = spawn(process.execPath, [moduleFile(name, code)], { env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const worker = { child, stdout: '', stderr: '', exited: once(child, 'exit') };
  child.stdout.setEncoding('utf8').on('data', (chunk) => (worker.stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk) => (worker.stderr += chunk));
  return worker;
}

/** Waits (real time, up to 15 s) until `check()` holds. */
async function until(what, check, worker) {
  for (let waited = 0; !(await check()); waited += 50) {
    if (waited >= 15_000) {
      assert.fail(`timed out waiting for ${what}\nstdout: ${worker.stdout}\nstderr: ${worker.stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const occurrences = (text, line) => text.split('\n').filter((l) => l === line).length;

test('the JavaScript SDK v3 recipe creates the queues and round-trips a message', async () => {
  const server = await startServer();
  const sqs = new SQS.SQSClient({ endpoint: server.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  try {
    const out = await runModule('js-sdk-v3', recipe('js-sdk-v3', server.endpoint));
    assert.equal(out, '{"order":42}\n');

    const { QueueUrl } = await sqs.send(new SQS.GetQueueUrlCommand({ QueueName: 'orders' }));
    const { Attributes } = await sqs.send(new SQS.GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
    assert.deepEqual(JSON.parse(Attributes.RedrivePolicy), {
      deadLetterTargetArn: server.queueArn('orders-dlq'),
      maxReceiveCount: 5,
    });
    assert.equal(Attributes.ApproximateNumberOfMessages, '0');
    assert.equal(Attributes.ApproximateNumberOfMessagesNotVisible, '0', 'the message was deleted');
  } finally {
    sqs.destroy();
    await server.stop();
  }
});

test('the sqs-consumer recipe ships the good order and dead-letters, after 5 receives, the one its handler throws on', async () => {
  const server = await startServer();
  const sqs = new SQS.SQSClient({ endpoint: server.endpoint, region: REGION, credentials: CREDENTIALS, maxAttempts: 1 });
  const worker = startModule('sqs-consumer', recipe('sqs-consumer', server.endpoint));
  const failures = () => occurrences(worker.stderr, 'Unexpected message handler failure: order 43: discontinued');
  const visibleIn = async (url) => {
    const { Attributes } = await sqs.send(
      new SQS.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }));
    return Number(Attributes.ApproximateNumberOfMessages);
  };
  try {
    await until('order 42 to be handled', () => worker.stdout.includes('order 42 shipped\n'), worker);
    // Each failed receive leaves order 43 hidden for the recipe's visibilityTimeout (30 s of the
    // server's clock); moving the clock past it lets the consumer's long poll receive it again.
    for (let receives = 1; receives <= 5; receives++) {
      await until(`handler failure ${receives}`, () => failures() >= receives, worker);
      await server.advance(31);
    }
    // The 6th receive finds it received maxReceiveCount (5) times: the queue moves it to orders-dlq.
    const dlqUrl = server.queueUrl('orders-dlq');
    await until('order 43 in orders-dlq', async () => (await visibleIn(dlqUrl)) === 1, worker);

    worker.child.kill('SIGINT');
    const [code] = await worker.exited;
    assert.equal(code, 0, `the worker stops on SIGINT\nstderr: ${worker.stderr}`);
    assert.equal(worker.stdout, 'order 42 shipped\n');
    assert.equal(failures(), 5, worker.stderr);

    const { Messages = [] } = await sqs.send(new SQS.ReceiveMessageCommand({ QueueUrl: dlqUrl }));
    assert.deepEqual(Messages.map((m) => JSON.parse(m.Body)), [{ order: 43, sku: 'discontinued' }]);
    const { Attributes } = await sqs.send(new SQS.GetQueueAttributesCommand({
      QueueUrl: server.queueUrl('orders'),
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }));
    assert.deepEqual(Attributes, { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' },
      'order 42 was deleted and order 43 moved');
  } finally {
    if (worker.child.exitCode === null) worker.child.kill('SIGKILL');
    sqs.destroy();
    await server.stop();
  }
});

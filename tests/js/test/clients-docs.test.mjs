// The JavaScript recipes of docs/clients.md, read out of the page and run against a fresh
// server (the block after `<!-- recipe: NAME -->`, its http://127.0.0.1:9324 replaced by the
// server's address), then checked as their user would: what they print, what they leave.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
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

async function runModule(name, code) {
  const file = path.join(scratch, `${name}.mjs`);
  writeFileSync(file, code);
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  const { stdout } = await promisify(execFile)(process.execPath, [file], { env, timeout: 60_000 });
  return stdout;
}

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

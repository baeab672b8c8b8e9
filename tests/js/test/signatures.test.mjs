// A server with a credentials file checks the signatures of both JavaScript SDKs: v3 (JSON
// protocol) and v2 (Query protocol) pass with the right secret and are refused in AWS's codes
// with a wrong one or an unknown key.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { CreateQueueCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import AWS from 'aws-sdk';

import { REGION, startServer } from '../helpers.mjs';

const KEY = 'AKIAEXAMPLEONE000001';
const SECRET = 'secret-of-key-one-0123456789';

describe('signatures checked against a credentials file', () => {
  let server;
  before(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'redrive-js-keys-'));
    const file = path.join(dir, 'credentials.toml');
    writeFileSync(file, `[[keys]]\naccess_key_id = "${KEY}"\nsecret_access_key = "${SECRET}"\naccount_id = "111111111111"\n`);
    server = await startServer(['--credentials', file]);
  });
  after(async () => server && (await server.stop()));

  const v3 = (accessKeyId, secretAccessKey) =>
    new SQSClient({ endpoint: server.endpoint, region: REGION, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
  const v2 = (accessKeyId, secretAccessKey) =>
    new AWS.SQS({ endpoint: server.endpoint, region: REGION, credentials: new AWS.Credentials(accessKeyId, secretAccessKey), maxRetries: 0 });

  it('the v3 SDK (JSON) passes with the right secret and is refused with a wrong one or an unknown key', async () => {
    const { QueueUrl } = await v3(KEY, SECRET).send(new CreateQueueCommand({ QueueName: 'js-v3-signed' }));
    assert.match(QueueUrl, /\/111111111111\/js-v3-signed$/);
    await assert.rejects(v3(KEY, 'not-the-secret-0123456789').send(new ListQueuesCommand({})), (err) => {
      assert.equal(err.$metadata.httpStatusCode, 403);
      assert.equal(err.Code ?? err.name, 'SignatureDoesNotMatch');
      return true;
    });
    await assert.rejects(v3('AKIAUNKNOWNKEY000000', SECRET).send(new ListQueuesCommand({})), (err) => {
      assert.equal(err.$metadata.httpStatusCode, 403);
      assert.equal(err.Code ?? err.name, 'InvalidClientTokenId');
      return true;
    });
  });

  it('the v2 SDK (Query) passes with the right secret and is refused with a wrong one', async () => {
    const sqs = v2(KEY, SECRET);
    assert.equal(sqs.api.protocol, 'query');
    const { QueueUrl } = await sqs.createQueue({ QueueName: 'js-v2-signed' }).promise();
    assert.match(QueueUrl, /\/111111111111\/js-v2-signed$/);
    await assert.rejects(v2(KEY, 'not-the-secret-0123456789').listQueues({}).promise(), (err) => {
      assert.equal(err.statusCode, 403);
      assert.equal(err.code, 'SignatureDoesNotMatch');
      return true;
    });
  });
});

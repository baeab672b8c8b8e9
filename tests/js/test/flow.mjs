// One SQS scenario, run through any SDK adapter: { name, call(op, params), errorOf(err) }.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { md5Hex, md5OfAttributes, plainAttributes, startServer, unique } from '../helpers.mjs';

const ATTRS = {
  text: { DataType: 'String', StringValue: 'hello ✓' },
  count: { DataType: 'Number', StringValue: '42' },
  price: { DataType: 'Number.float', StringValue: '3.14159' },
  raw: { DataType: 'Binary', BinaryValue: Buffer.from([0, 1, 2, 250, 255]) },
};

async function expectError(promise, code, status = 400) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected error ${code}, but the call succeeded`);
  return err;
}

export function sqsFlow(label, makeAdapter) {
  describe(label, () => {
    let server;
    let sdk;
    const call = (op, params) => sdk.call(op, params);

    async function failsWith(op, params, code, status = 400) {
      const err = await expectError(call(op, params), code);
      const got = sdk.errorOf(err);
      assert.equal(got.code, code, `${op}: expected ${code}, got ${got.code} (${err.message})`);
      if (status !== null) assert.equal(got.status, status, `${op}: HTTP status`);
      return err;
    }

    async function counts(url) {
      const { Attributes: a } = await call('GetQueueAttributes', {
        QueueUrl: url,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      });
      return [
        Number(a.ApproximateNumberOfMessages),
        Number(a.ApproximateNumberOfMessagesNotVisible),
        Number(a.ApproximateNumberOfMessagesDelayed),
      ];
    }

    async function receive(url, params = {}) {
      const out = await call('ReceiveMessage', { QueueUrl: url, ...params });
      return out.Messages ?? [];
    }

    async function newQueue(prefix, Attributes) {
      const QueueName = unique(prefix);
      const { QueueUrl } = await call('CreateQueue', Attributes ? { QueueName, Attributes } : { QueueName });
      return { name: QueueName, url: QueueUrl };
    }

    before(async () => {
      server = await startServer();
      sdk = makeAdapter(server.endpoint);
    });

    after(async () => {
      sdk?.destroy?.();
      if (server) {
        const code = await server.stop();
        assert.equal(code, 0, `redrive should exit 0 on SIGTERM\n${server.log()}`);
      }
    });

    it('creates, finds, lists and configures a queue', async () => {
      const name = unique('js-queue');
      const { QueueUrl: url } = await call('CreateQueue', {
        QueueName: name,
        Attributes: { VisibilityTimeout: '45' },
        tags: { team: 'js' },
      });
      assert.equal(url, server.queueUrl(name));
      assert.equal((await call('GetQueueUrl', { QueueName: name })).QueueUrl, url);
      // Same attributes again: the same queue.
      const again = await call('CreateQueue', { QueueName: name, Attributes: { VisibilityTimeout: '45' } });
      assert.equal(again.QueueUrl, url);
      await failsWith('CreateQueue', { QueueName: name, Attributes: { VisibilityTimeout: '46' } }, 'QueueAlreadyExists');

      const all = (await call('GetQueueAttributes', { QueueUrl: url, AttributeNames: ['All'] })).Attributes;
      assert.equal(all.QueueArn, server.queueArn(name));
      assert.equal(all.VisibilityTimeout, '45');
      assert.equal(all.MaximumMessageSize, '1048576');
      assert.equal(all.MessageRetentionPeriod, '345600');
      assert.equal(all.ApproximateNumberOfMessages, '0');
      assert.ok(Number(all.CreatedTimestamp) > 1_600_000_000);

      await call('SetQueueAttributes', { QueueUrl: url, Attributes: { MaximumMessageSize: '2048', DelaySeconds: '1' } });
      const some = await call('GetQueueAttributes', { QueueUrl: url, AttributeNames: ['MaximumMessageSize', 'DelaySeconds'] });
      assert.deepEqual(some.Attributes, { MaximumMessageSize: '2048', DelaySeconds: '1' });
      await failsWith('SetQueueAttributes', { QueueUrl: url, Attributes: { DelaySeconds: '901' } }, 'InvalidAttributeValue');

      const listed = await call('ListQueues', { QueueNamePrefix: name });
      assert.deepEqual(listed.QueueUrls, [url]);

      assert.deepEqual((await call('ListQueueTags', { QueueUrl: url })).Tags, { team: 'js' });
      await call('TagQueue', { QueueUrl: url, Tags: { env: 'test', tier: 'free' } });
      await call('UntagQueue', { QueueUrl: url, TagKeys: ['team', 'tier'] });
      assert.deepEqual((await call('ListQueueTags', { QueueUrl: url })).Tags, { env: 'test' });

      await call('DeleteQueue', { QueueUrl: url });
      await failsWith('GetQueueUrl', { QueueName: name }, 'AWS.SimpleQueueService.NonExistentQueue');
    });

    it('sends with attributes, receives, changes visibility and deletes', async () => {
      const { url } = await newQueue('js-msg');
      const body = 'héllo from JS 😀';
      const sent = await call('SendMessage', { QueueUrl: url, MessageBody: body, MessageAttributes: ATTRS });
      assert.equal(sent.MD5OfMessageBody, md5Hex(body));
      assert.equal(sent.MD5OfMessageAttributes, md5OfAttributes(ATTRS));
      assert.match(sent.MessageId, /^[0-9a-f-]{36}$/);
      assert.deepEqual(await counts(url), [1, 0, 0]);

      let [msg] = await receive(url, { AttributeNames: ['All'], MessageAttributeNames: ['All'], MaxNumberOfMessages: 10 });
      assert.equal(msg.MessageId, sent.MessageId);
      assert.equal(msg.Body, body);
      assert.equal(msg.MD5OfBody, md5Hex(body));
      assert.deepEqual(plainAttributes(msg.MessageAttributes), plainAttributes(ATTRS));
      assert.equal(msg.MD5OfMessageAttributes, md5OfAttributes(ATTRS));
      assert.equal(msg.Attributes.ApproximateReceiveCount, '1');
      assert.ok(Number(msg.Attributes.SentTimestamp) > 0);
      assert.ok(msg.Attributes.SenderId);
      assert.deepEqual(await receive(url), []);
      assert.deepEqual(await counts(url), [0, 1, 0]);

      await call('ChangeMessageVisibility', { QueueUrl: url, ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: 0 });
      [msg] = await receive(url, { AttributeNames: ['ApproximateReceiveCount'] });
      assert.equal(msg.Attributes.ApproximateReceiveCount, '2');

      await call('ChangeMessageVisibility', { QueueUrl: url, ReceiptHandle: msg.ReceiptHandle, VisibilityTimeout: 60 });
      await server.advance(59);
      assert.deepEqual(await receive(url), []);
      await server.advance(2);
      [msg] = await receive(url, { AttributeNames: ['All'] });
      assert.equal(msg.Attributes.ApproximateReceiveCount, '3');

      await call('DeleteMessage', { QueueUrl: url, ReceiptHandle: msg.ReceiptHandle });
      assert.deepEqual(await counts(url), [0, 0, 0]);
      await failsWith('DeleteMessage', { QueueUrl: url, ReceiptHandle: 'garbage' }, 'ReceiptHandleIsInvalid', 404);
    });

    it('runs batch send, change-visibility and delete with partial failures', async () => {
      const { url } = await newQueue('js-batch');
      const entries = [
        { Id: 'a', MessageBody: 'first' },
        { Id: 'b', MessageBody: 'second', MessageAttributes: { k: { DataType: 'String', StringValue: 'v' } } },
        { Id: 'c', MessageBody: 'third', DelaySeconds: 10 },
      ];
      const sent = await call('SendMessageBatch', { QueueUrl: url, Entries: entries });
      assert.equal((sent.Failed ?? []).length, 0);
      const ok = Object.fromEntries(sent.Successful.map((e) => [e.Id, e]));
      assert.deepEqual(Object.keys(ok).sort(), ['a', 'b', 'c']);
      assert.equal(ok.a.MD5OfMessageBody, md5Hex('first'));
      assert.equal(ok.b.MD5OfMessageAttributes, md5OfAttributes(entries[1].MessageAttributes));
      assert.deepEqual(await counts(url), [2, 0, 1]);

      const got = await receive(url, { MaxNumberOfMessages: 10 });
      assert.deepEqual(got.map((m) => m.Body).sort(), ['first', 'second']);
      const vis = await call('ChangeMessageVisibilityBatch', {
        QueueUrl: url,
        Entries: [
          { Id: 'zero', ReceiptHandle: got[0].ReceiptHandle, VisibilityTimeout: 0 },
          { Id: 'long', ReceiptHandle: got[1].ReceiptHandle, VisibilityTimeout: 300 },
          { Id: 'bad', ReceiptHandle: 'garbage', VisibilityTimeout: 0 },
        ],
      });
      assert.deepEqual(vis.Successful.map((e) => e.Id).sort(), ['long', 'zero']);
      assert.deepEqual(vis.Failed.map((f) => [f.Id, f.Code, f.SenderFault]), [['bad', 'ReceiptHandleIsInvalid', true]]);
      const again = await receive(url, { MaxNumberOfMessages: 10 });
      assert.deepEqual(again.map((m) => m.MessageId), [got[0].MessageId]);

      const del = await call('DeleteMessageBatch', {
        QueueUrl: url,
        Entries: [
          { Id: 'x', ReceiptHandle: again[0].ReceiptHandle },
          { Id: 'y', ReceiptHandle: got[1].ReceiptHandle },
          { Id: 'z', ReceiptHandle: 'garbage' },
        ],
      });
      assert.deepEqual(del.Successful.map((e) => e.Id).sort(), ['x', 'y']);
      assert.deepEqual(del.Failed.map((f) => [f.Id, f.Code, f.SenderFault]), [['z', 'ReceiptHandleIsInvalid', true]]);

      await server.advance(11);
      const delayed = await receive(url, { MaxNumberOfMessages: 10 });
      assert.deepEqual(delayed.map((m) => m.Body), ['third']);

      await failsWith('SendMessageBatch', { QueueUrl: url, Entries: [] }, 'AWS.SimpleQueueService.EmptyBatchRequest');
      await failsWith(
        'SendMessageBatch',
        { QueueUrl: url, Entries: [{ Id: 'same', MessageBody: '1' }, { Id: 'same', MessageBody: '2' }] },
        'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
      );
      await failsWith(
        'DeleteMessageBatch',
        { QueueUrl: url, Entries: Array.from({ length: 11 }, (_, i) => ({ Id: `i${i}`, ReceiptHandle: 'x' })) },
        'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
      );
    });

    it('long-polls until a message arrives, and purges', async () => {
      const { url } = await newQueue('js-poll');
      const started = Date.now();
      const polling = call('ReceiveMessage', { QueueUrl: url, WaitTimeSeconds: 20 });
      await new Promise((r) => setTimeout(r, 300));
      await call('SendMessage', { QueueUrl: url, MessageBody: 'wake' });
      const out = await polling;
      assert.deepEqual((out.Messages ?? []).map((m) => m.Body), ['wake']);
      assert.ok(Date.now() - started < 10_000, 'long poll did not return promptly');

      await failsWith('ReceiveMessage', { QueueUrl: url, MaxNumberOfMessages: 11 }, 'InvalidParameterValue');
      await call('SendMessage', { QueueUrl: url, MessageBody: 'purge me' });
      await call('PurgeQueue', { QueueUrl: url });
      assert.deepEqual(await counts(url), [0, 0, 0]);
      await failsWith('PurgeQueue', { QueueUrl: url }, 'AWS.SimpleQueueService.PurgeQueueInProgress', 403);
      await server.advance(60);
      await call('PurgeQueue', { QueueUrl: url });
    });
  });
}

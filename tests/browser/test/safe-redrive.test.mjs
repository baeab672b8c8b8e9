// Safe redrive in the console, in headless Chromium, on a DLQ's page: a filter narrows the
// Peek messages list and its "N messages match" line; Start DLQ redrive previews a dry run
// (the count and a sample of ten); a canary redrive into a consumer that still fails ends
// Failed with the reason and the failed-again count; a message is edited, one deleted, one
// redriven now; Export downloads the filtered DLQ as JSON Lines. Setup goes through the API
// (twelve messages dead-lettered from `orders`, a broken consumer); the rest is clicked.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test as nodeTest } from 'node:test';
import { WAIT, screenshot, startConsole, stepsInOrder } from '../helpers.mjs';

let ui;
let server;
let tab;
let page;

/** The steps build on each other: after a failed one the rest are skipped, not failed again. */
const test = stepsInOrder(nodeTest, () => page, 'FAILED-safe-redrive');

/** A consumer that fails every message: received with no visibility timeout until each one is in the DLQ. */
async function consumerStillFailing(queue) {
  for (let i = 0; i < 100; i++) {
    const got = await server.api('ReceiveMessage', { QueueUrl: server.queueUrl(queue), MaxNumberOfMessages: 10, VisibilityTimeout: 0 });
    if (!(got.Messages || []).length && (await depth(queue)) === 0) return;
  }
  throw new Error(`${queue} kept its messages`);
}

/** Messages in a queue, visible or not. */
async function depth(queue) {
  const names = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed'];
  const a = (await server.api('GetQueueAttributes', { QueueUrl: server.queueUrl(queue), AttributeNames: names })).Attributes;
  return names.reduce((n, k) => n + Number(a[k]), 0);
}

before(async () => {
  ui = await startConsole();
  ({ server, tab, page } = ui);
  // orders (Maximum receives 1) and orders-dlq; twelve orders, refunds (even n) and sales (odd).
  await server.api('CreateQueue', { QueueName: 'orders-dlq' });
  await server.api('CreateQueue', {
    QueueName: 'orders',
    Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: server.queueArn('orders-dlq'), maxReceiveCount: 1 }) },
  });
  for (const batch of [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [10, 11]]) {
    const entries = batch.map((n) => {
      const kind = n % 2 ? 'sale' : 'refund';
      return { Id: `m${n}`, MessageBody: JSON.stringify({ n, kind }), MessageAttributes: { kind: { DataType: 'String', StringValue: kind } } };
    });
    await server.api('SendMessageBatch', { QueueUrl: server.queueUrl('orders'), Entries: entries });
  }
  await consumerStillFailing('orders');
  assert.equal(await depth('orders-dlq'), 12);
});

after(async () => {
  await ui?.close();
});

const cards = () => page.locator('#peek-results article');
const countLine = () => page.locator('#peek-count');
const statusPanel = () => page.locator('#redrive-status');
const historyRow = (i) => page.locator('#redrive-history tbody tr').nth(i);

async function peek(expectedCount) {
  await page.getByRole('button', { name: 'Peek', exact: true }).click();
  await countLine().getByText(expectedCount).waitFor(WAIT);
}

test('a filter on the DLQ\'s Peek messages tab shows how many messages match and lists only those, with state, redrive count and dead-letter time', async () => {
  await page.goto(`${server.endpoint}/console#/queues/orders-dlq`);
  await page.getByRole('heading', { name: 'orders-dlq' }).waitFor(WAIT);
  await page.getByRole('tab', { name: 'Peek messages' }).click();
  await peek('12 messages in the queue.');
  await page.getByText('12 messages shown.').waitFor();

  // Message attribute AND body text: the sales whose body holds "n":1 — 1 and 11.
  await page.getByLabel('Message attribute', { exact: true }).fill('kind');
  await page.getByLabel('Attribute equals', { exact: true }).fill('sale');
  await page.getByLabel('Body contains').fill('"n":1');
  await peek('2 messages match the filter (12 looked at).');
  assert.deepEqual(await cards().locator('pre[data-body]').allInnerTexts(), ['{\n  "n": 1,\n  "kind": "sale"\n}', '{\n  "n": 11,\n  "kind": "sale"\n}']);

  // A time range no message is in.
  await page.getByRole('button', { name: 'Clear filter' }).click();
  await countLine().getByText('12 messages in the queue.').waitFor(WAIT);
  await page.getByLabel('Sent before', { exact: true }).fill('2000-01-01T00:00');
  await peek('0 messages match the filter (12 looked at).');
  assert.equal(await cards().count(), 0);
  await page.getByLabel('Sent before', { exact: true }).fill('');

  // A JSON path that is not a JSON Pointer: the server says why, in its words.
  await page.getByLabel('JSON path').fill('kind');
  await page.getByLabel('JSON value equals').fill('refund');
  await page.getByRole('button', { name: 'Peek', exact: true }).click();
  await page.getByRole('alert').getByText('InvalidParameterValue: Filter.BodyJson: Path "kind" is not a JSON Pointer').waitFor(WAIT);
  const errors = tab.takeErrors();
  assert.ok(errors.length >= 1 && errors.every((e) => /status of 400/.test(e)), errors.join('\n'));

  // The refunds, by a value inside the JSON body: this is the filter the next steps use.
  await page.getByLabel('JSON path').fill('/kind');
  await peek('6 messages match the filter (12 looked at).');
  await page.getByText('6 messages shown.').waitFor();
  assert.equal(await cards().count(), 6);
  for (let i = 0; i < 6; i++) {
    const card = cards().nth(i);
    assert.match(await card.locator('pre[data-body]').innerText(), /"kind": "refund"/);
    assert.equal(await card.locator('[data-state]').innerText(), 'Available');
    assert.equal(await card.locator('[data-redrive-count]').innerText(), '0');
    assert.match(await card.locator('[data-dead-lettered]').innerText(), /\d{2}:\d{2}:\d{2}/);
    await card.getByText('From orders').waitFor();
  }
  assert.equal(await depth('orders-dlq'), 12, 'peeking and counting received nothing');
  await screenshot(page, 'safe-redrive-filter');
  tab.expectNoErrors();
});

test('Start DLQ redrive previews a dry run: the count, and a sample of ten, moving nothing', async () => {
  await page.getByRole('link', { name: 'Redrive matching messages' }).click();
  await page.getByRole('heading', { name: 'Start DLQ redrive' }).waitFor(WAIT);
  const onlyMatching = page.getByRole('checkbox', { name: 'Only messages matching the current filter' });
  assert.ok(await onlyMatching.isChecked(), 'chosen, coming from the filter');
  await page.locator('#current-filter').getByText('/kind = "refund"').waitFor();

  await page.getByRole('button', { name: 'Preview (dry run)' }).click();
  await page.locator('#dry-run-count').getByText('6 messages would move. Nothing was moved.').waitFor(WAIT);
  assert.equal(await page.locator('#dry-run-sample article').count(), 6);
  for (const body of await page.locator('#dry-run-sample pre[data-body]').allInnerTexts()) assert.match(body, /"kind": "refund"/);

  await onlyMatching.uncheck();
  await page.getByRole('button', { name: 'Preview (dry run)' }).click();
  await page.locator('#dry-run-count').getByText('12 messages would move. Nothing was moved.').waitFor(WAIT);
  await page.getByRole('heading', { name: 'The first 10' }).waitFor();
  assert.equal(await page.locator('#dry-run-sample article').count(), 10);
  await screenshot(page, 'safe-redrive-dry-run');

  // A halt rule with no limit is refused by the server, in its words.
  await page.getByRole('checkbox', { name: 'Halt on re-failure' }).check();
  await page.getByRole('button', { name: 'DLQ redrive' }).click();
  await page.getByRole('alert').getByText('InvalidParameterValue: Halt: Give MaxCount, MaxPercent or both.').waitFor(WAIT);
  assert.equal(tab.takeErrors().length, 1);
  await page.getByRole('checkbox', { name: 'Halt on re-failure' }).uncheck();
  assert.equal(await depth('orders-dlq'), 12, 'nothing moved');
  assert.equal((await server.ext('ListRedrives', { SourceArn: server.queueArn('orders-dlq') })).Tasks.length, 0, 'no task started');
  tab.expectNoErrors();
});

test('a canary redrive into a consumer that still fails ends Failed, with the reason and the failed-again count', async () => {
  await page.getByRole('checkbox', { name: 'Only messages matching the current filter' }).check();
  await page.getByRole('checkbox', { name: 'Canary' }).check();
  assert.equal(await page.getByLabel('Canary timeout').inputValue(), '300', 'the documented default');
  assert.equal(await page.getByLabel('Canary size').inputValue(), '10', 'the documented default');
  await page.getByLabel('Canary size').fill('2');
  await page.getByRole('button', { name: 'DLQ redrive' }).click();
  await page.getByText('DLQ redrive started for orders-dlq.').waitFor(WAIT);
  const panel = statusPanel();
  await panel.locator('[data-stage="CANARY_WATCH"]').getByText('Watching the canary').waitFor(WAIT);
  await panel.getByText('2 of 6').waitFor(WAIT);
  await panel.locator('[data-count="filter"]').getByText('/kind = "refund"').waitFor();
  await screenshot(page, 'safe-redrive-canary-watch');

  await consumerStillFailing('orders');
  await panel.locator('[data-status]').getByText('Failed').waitFor(WAIT);
  assert.match(await panel.locator('[data-count="failure-reason"]').innerText(), /^Canary failed: 2 of the 2 canary messages came back to the dead-letter queue/);
  assert.equal(await panel.locator('[data-count="failed-again"]').innerText(), '2');
  const row = historyRow(0);
  assert.equal(await row.locator('[data-col="status"]').innerText(), 'Failed');
  assert.equal(await row.locator('[data-col="failed-again"]').innerText(), '2');
  assert.equal(await row.locator('[data-col="moved"]').innerText(), '2');
  await row.locator('[data-col="filter"]').getByText('/kind = "refund"').waitFor();
  await row.locator('[data-col="filter"]').getByText('Canary of 2').waitFor();
  assert.equal(await depth('orders-dlq'), 12, 'nothing lost: the canary is back in the DLQ');
  await screenshot(page, 'safe-redrive-canary-failed');
  tab.expectNoErrors();
});

let edited;

test('a message is edited where it is and the list shows its new body and attribute', async () => {
  await page.getByRole('tab', { name: 'Peek messages' }).click();
  await peek('6 messages match the filter (12 looked at).');
  const redriven = await cards().locator('[data-redrive-count]').allInnerTexts();
  assert.deepEqual(redriven.filter((c) => c === '1').length, 2, 'the canary\'s two were redriven once');

  const card = cards().first();
  edited = await card.getAttribute('data-message-id');
  await card.getByRole('button', { name: 'Edit' }).click();
  const dialog = page.getByRole('dialog', { name: 'Edit message' });
  await dialog.getByLabel('Message body').fill('{"n":0,"kind":"refund","fixed":true}');
  await dialog.getByRole('button', { name: 'Add attribute' }).click();
  await dialog.getByLabel('Attribute name').last().fill('fixed');
  await dialog.getByLabel('Attribute value').last().fill('yes');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await page.getByText(`Message ${edited} updated.`).waitFor(WAIT);
  const after = page.locator(`#peek-results article[data-message-id="${edited}"]`);
  await after.locator('pre[data-body]').getByText('"fixed": true').waitFor(WAIT);
  await after.getByText('fixed (String) = yes').waitFor();
  await after.getByText('kind (String) = refund').waitFor();
  const shown = await server.ext('PeekMessages', { QueueUrl: server.queueUrl('orders-dlq'), Filter: { MessageIds: [edited] } });
  assert.equal(shown.Messages[0].Body, '{"n":0,"kind":"refund","fixed":true}');
  tab.expectNoErrors();
});

test('a message is deleted once the dialog is confirmed', async () => {
  const card = cards().nth(1);
  const id = await card.getAttribute('data-message-id');
  await card.getByRole('button', { name: 'Delete' }).click();
  const dialog = page.getByRole('dialog', { name: `Delete message ${id}?` });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal(await depth('orders-dlq'), 12, 'cancelled: still there');
  await card.getByRole('button', { name: 'Delete' }).click();
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await page.getByText(`Message ${id} deleted.`).waitFor(WAIT);
  await countLine().getByText('5 messages match the filter (11 looked at).').waitFor(WAIT);
  await page.locator(`#peek-results article[data-message-id="${id}"]`).waitFor({ state: 'detached', ...WAIT });
  assert.equal(await depth('orders-dlq'), 11);
  tab.expectNoErrors();
});

test('a message is redriven now, alone, to its source queue', async () => {
  await page.locator(`#peek-results article[data-message-id="${edited}"]`).getByRole('button', { name: /^Redrive message .* now$/ }).click();
  await page.getByText(`Message ${edited} redriven to orders.`).waitFor(WAIT);
  await countLine().getByText('4 messages match the filter (10 looked at).').waitFor(WAIT);
  const back = await server.ext('PeekMessages', { QueueUrl: server.queueUrl('orders') });
  // Sent to orders as a new message (a new MessageId), with the fixed body and attributes.
  assert.deepEqual(back.Messages.map((m) => [m.Body, m.MessageAttributes.fixed.StringValue]), [['{"n":0,"kind":"refund","fixed":true}', 'yes']]);

  await page.getByRole('tab', { name: 'DLQ redrive' }).click();
  const row = historyRow(0);
  await row.locator('[data-col="filter"]').getByText(`message ${edited}`).waitFor(WAIT);
  assert.equal(await row.locator('[data-col="status"]').innerText(), 'Successfully completed');
  assert.equal(await row.locator('[data-col="moved"]').innerText(), '1');
  assert.equal(await historyRow(1).locator('[data-col="status"]').innerText(), 'Failed', 'the canary\'s task below it');
  await screenshot(page, 'safe-redrive-history');
  tab.expectNoErrors();
});

test('Export downloads the filtered DLQ as a .jsonl file whose lines are its messages, chosen ones too', async () => {
  await page.getByRole('tab', { name: 'Peek messages' }).click();
  await page.getByRole('button', { name: 'Clear filter' }).click();
  await countLine().getByText('10 messages in the queue.').waitFor(WAIT);
  await page.getByLabel('Message attribute', { exact: true }).fill('kind');
  await page.getByLabel('Attribute equals', { exact: true }).fill('sale');
  const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.getByRole('button', { name: 'Export' }).click()]);
  assert.match(download.suggestedFilename(), /^orders-dlq-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.jsonl$/);
  await page.getByRole('alert').getByText(`Exported 6 messages to ${download.suggestedFilename()}.`).waitFor(WAIT);
  await countLine().getByText('6 messages match the filter (10 looked at).').waitFor();
  const text = readFileSync(await download.path(), 'utf8');
  assert.ok(text.endsWith('\n'));
  const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l));
  const expected = await server.ext('ExportMessages', { QueueUrl: server.queueUrl('orders-dlq'), Filter: { MessageAttributes: [{ Name: 'kind', Equals: 'sale' }] } });
  assert.deepEqual(lines, expected.Messages, 'each line is a message as ExportMessages gives it');
  assert.equal(lines.length, 6);
  for (const m of lines) {
    assert.equal(JSON.parse(m.Body).kind, 'sale');
    assert.equal(m.Attributes.DeadLetterQueueSourceArn, server.queueArn('orders'));
  }

  // Two messages ticked with Choose: the filter takes just them, and so does the export.
  const chosen = [lines[1].MessageId, lines[4].MessageId];
  await page.getByRole('button', { name: 'Clear filter' }).click();
  await countLine().getByText('10 messages in the queue.').waitFor(WAIT);
  for (const id of chosen) await page.getByRole('checkbox', { name: `Choose message ${id}` }).check();
  await peek('2 messages match the filter (10 looked at).');
  const [picked] = await Promise.all([page.waitForEvent('download', WAIT), page.getByRole('button', { name: 'Export' }).click()]);
  const pickedLines = readFileSync(await picked.path(), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l).MessageId);
  assert.deepEqual(pickedLines, chosen);
  tab.expectNoErrors();
});

// Seed 001 ("Introducing Amazon SQS dead-letter queue redrive to source queues") done by
// clicking through the console, in headless Chromium: create MyDLQ and MySourceQueue, enable
// the DLQ with Maximum receives 1 (after the server refuses 0, in its own words), send 5
// messages, poll them, watch MyDLQ's count reach 5, peek at them (counts unchanged), redrive at
// a custom velocity of 2 messages/s until "Successfully completed", and see the 5 messages back
// in MySourceQueue; then cancel a running redrive. Real time: the redrive runs at 2/s.
import assert from 'node:assert/strict';
import { after, before, test as nodeTest } from 'node:test';
import { WAIT, screenshot, startConsole, stepsInOrder } from '../helpers.mjs';

let ui;
let server;
let tab;
let page;

/** The steps build on each other: after a failed one the rest are skipped, not failed again. */
const test = stepsInOrder(nodeTest, () => page, 'FAILED');

before(async () => {
  ui = await startConsole();
  ({ server, tab, page } = ui);
});

after(async () => {
  await ui?.close();
});

/** The number a row of the queue list shows in a column. */
async function listCount(name, column) {
  return page.locator(`tr[data-queue="${name}"] td[data-col="${column}"]`);
}

async function createQueue(name) {
  await page.getByRole('link', { name: 'Create queue' }).click();
  await page.getByRole('heading', { name: 'Create queue' }).waitFor();
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Create queue' }).click();
  await page.getByText(`Queue ${name} created successfully.`).waitFor(WAIT);
  await page.getByRole('heading', { name }).waitFor(WAIT);
}

async function openQueue(name) {
  await page.getByRole('link', { name: 'Queues' }).first().click();
  await page.locator('#queue-table').waitFor();
  await page.getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { name }).waitFor(WAIT);
}

test('a browser opening the server root lands on the console, which lists no queue yet', async () => {
  await page.goto(server.endpoint + '/');
  assert.match(page.url(), /\/console(#.*)?$/);
  await page.getByRole('heading', { name: /Queues/ }).waitFor();
  await page.getByText('No queues yet. Choose Create queue.').waitFor(WAIT);
  await screenshot(page, 'seed001-empty-queue-list');
  tab.expectNoErrors();
});

test('MyDLQ and MySourceQueue are created with the default configuration', async () => {
  await createQueue('MyDLQ');
  await screenshot(page, 'seed001-mydlq-details');
  await page.getByRole('link', { name: 'Queues' }).first().click();
  await createQueue('MySourceQueue');
  tab.expectNoErrors();
});

test('the server refuses Maximum receives 0 in its own words, then 1 is saved and shown on the Dead-letter queue tab', async () => {
  await openQueue('MySourceQueue');
  await page.getByRole('link', { name: 'Edit' }).click();
  await page.getByRole('heading', { name: 'Edit MySourceQueue' }).waitFor();
  await page.getByRole('radio', { name: 'Enabled' }).first().check();
  await page.getByLabel('Choose queue').selectOption('arn:aws:sqs:us-east-1:000000000000:MyDLQ');
  await page.getByLabel('Maximum receives').fill('0');
  await page.getByRole('button', { name: 'Save' }).click();
  const alert = page.getByRole('alert');
  await alert.getByText('Invalid value for maxReceiveCount: 0, valid values are from 1 to 1000 both inclusive.').waitFor(WAIT);
  assert.match(await alert.innerText(), /^InvalidParameterValue: Value .* for parameter RedrivePolicy is invalid\./);
  await screenshot(page, 'seed001-maximum-receives-0-refused');
  // The one console error is the browser's note of the refused (400) request itself.
  const errors = tab.takeErrors();
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0], /status of 400/);

  await page.getByLabel('Maximum receives').fill('1');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Queue MySourceQueue saved.').waitFor(WAIT);
  await page.getByRole('tab', { name: 'Dead-letter queue' }).click();
  const panel = page.locator('#dlq-panel');
  await panel.locator('[data-count="max-receives"]').getByText('1', { exact: true }).waitFor(WAIT);
  await panel.getByRole('link', { name: 'arn:aws:sqs:us-east-1:000000000000:MyDLQ' }).waitFor();
  await screenshot(page, 'seed001-dead-letter-queue-tab');
  tab.expectNoErrors();
});

test('five test messages are sent, polled once (receive count 1), and the next poll moves them to MyDLQ', async () => {
  await page.getByRole('link', { name: 'Send and receive messages' }).click();
  await page.getByRole('heading', { name: 'Send and receive messages' }).waitFor();
  for (let i = 1; i <= 5; i++) {
    await page.getByLabel('Message body').fill(`{"order":${i},"item":"book"}`);
    await page.getByRole('button', { name: 'Send message' }).click();
    await page.getByText('Your message has been sent and is ready to be received.').waitFor(WAIT);
  }
  await page.locator('#available-count').getByText('5', { exact: true }).waitFor(WAIT);
  await page.getByText('counts toward Maximum receives (1 here: then they move to MyDLQ)').waitFor();
  await page.getByLabel('Polling duration').fill('0');
  await page.getByLabel('Visibility timeout').fill('0');
  await page.getByRole('button', { name: 'Poll for messages' }).click();
  await page.getByText('Received 5 messages.').waitFor(WAIT);
  const cards = page.locator('#received article');
  assert.equal(await cards.count(), 5);
  for (let i = 0; i < 5; i++) {
    assert.equal(await cards.nth(i).locator('[data-receive-count]').innerText(), '1');
  }
  // The body is shown pretty-printed JSON.
  await page.locator('#received pre[data-body]').first().getByText('"order": 1,').waitFor();
  await screenshot(page, 'seed001-poll-for-messages');

  await page.getByRole('button', { name: 'Poll for messages' }).click();
  await page.getByText('Received 0 messages.').waitFor(WAIT);
  await page.locator('#available-count').getByText('0', { exact: true }).waitFor(WAIT);
  tab.expectNoErrors();
});

test("the queue list shows MyDLQ's count reach 5, filtered by name, with its DLQ badge", async () => {
  await page.getByRole('link', { name: 'Queues' }).first().click();
  await page.getByLabel('Search queues by name').fill('MyDLQ');
  await (await listCount('MyDLQ', 'available')).getByText('5', { exact: true }).waitFor(WAIT);
  assert.equal(await page.locator('tr[data-queue="MySourceQueue"]').count(), 0, 'the filter hides MySourceQueue');
  await page.locator('tr[data-queue="MyDLQ"] td.hide-narrow').getByText('DLQ', { exact: true }).waitFor();
  await page.locator('tr[data-queue="MyDLQ"]').getByText('for MySourceQueue').waitFor();
  await screenshot(page, 'seed001-mydlq-count-5');
  tab.expectNoErrors();
});

test('peeking at MyDLQ shows the five messages and their source, and changes no count', async () => {
  await page.getByRole('link', { name: 'MyDLQ', exact: true }).click();
  await page.getByRole('tab', { name: 'Peek messages' }).click();
  for (let round = 0; round < 2; round++) {
    await page.getByRole('button', { name: 'Peek', exact: true }).click();
    await page.getByText('5 messages shown.').waitFor(WAIT);
  }
  const cards = page.locator('#peek-results article');
  assert.equal(await cards.count(), 5);
  for (let i = 0; i < 5; i++) {
    const card = cards.nth(i);
    assert.match(await card.locator('pre[data-body]').innerText(), new RegExp(`"order": ${i + 1},`));
    assert.equal(await card.locator('[data-receive-count]').innerText(), '1');
    await card.getByText('From MySourceQueue').waitFor();
  }
  await page.getByLabel('Body contains').fill('"order":3');
  await page.getByRole('button', { name: 'Peek', exact: true }).click();
  await page.getByText('1 message shown.').waitFor(WAIT);
  assert.equal(await page.getByRole('button', { name: 'Load more' }).isVisible(), false, 'nothing more to load');
  // Counts after the peeks, re-read by the console's refresh: still 5 available, none in flight.
  await page.waitForTimeout(2500);
  assert.equal(await page.locator('[data-count="available"]').innerText(), '5');
  assert.equal(await page.locator('[data-count="inflight"]').innerText(), '0');
  await screenshot(page, 'seed001-peek');
  tab.expectNoErrors();
});

test('a DLQ redrive at a custom max velocity of 2 messages/s rises to "Successfully completed"', async () => {
  await page.getByRole('link', { name: 'Queues' }).first().click();
  await page.getByLabel('Search queues by name').fill('');
  await page.getByRole('radio', { name: 'Select MyDLQ' }).check();
  await page.getByRole('button', { name: 'Start DLQ redrive' }).click();
  await page.getByRole('heading', { name: 'Start DLQ redrive' }).waitFor();
  assert.ok(await page.getByRole('radio', { name: 'Redrive to source queue(s)' }).isChecked(), 'the default');
  await page.getByRole('radio', { name: 'Custom max velocity' }).check();
  await page.getByLabel('Maximum messages per second').fill('2');
  await screenshot(page, 'seed001-start-dlq-redrive');
  await page.getByRole('button', { name: 'DLQ redrive' }).click();
  await page.getByText('DLQ redrive started for MyDLQ.').waitFor(WAIT);
  const panel = page.locator('#redrive-status');
  await panel.getByRole('heading', { name: 'Dead-letter queue redrive status' }).waitFor(WAIT);
  await panel.getByText('Custom max velocity: 2 messages/s').waitFor(WAIT);
  const seen = new Set();
  const deadline = Date.now() + 30_000;
  let status = '';
  let shotRunning = false;
  while (Date.now() < deadline) {
    status = await panel.locator('[data-status]').innerText();
    seen.add(await panel.locator('[data-percent]').innerText());
    if (status === 'Successfully completed') break;
    if (!shotRunning && status === 'Running' && !['0%', '100%'].includes(await panel.locator('[data-percent]').innerText())) {
      shotRunning = true;
      await screenshot(page, 'seed001-redrive-running');
    }
    // As the seed says: "You can refresh the display" (the panel also refreshes every 2 s).
    if (status === 'Running') await panel.getByRole('button', { name: 'Refresh' }).click();
    await page.waitForTimeout(200);
  }
  assert.equal(status, 'Successfully completed');
  assert.equal(await panel.locator('[data-percent]').innerText(), '100%');
  await panel.getByText('5 of 5').waitFor();
  const partial = [...seen].filter((p) => p !== '0%' && p !== '100%');
  assert.ok(partial.length > 0, `percent processed rose through partial values, saw ${[...seen]}`);
  await page.locator('#redrive-history').getByText('Successfully completed').waitFor();
  await screenshot(page, 'seed001-redrive-completed');
  tab.expectNoErrors();
});

test('the five messages are back in MySourceQueue and MyDLQ is empty', async () => {
  await page.getByRole('link', { name: 'Queues' }).first().click();
  await (await listCount('MySourceQueue', 'available')).getByText('5', { exact: true }).waitFor(WAIT);
  await (await listCount('MyDLQ', 'available')).getByText('0', { exact: true }).waitFor(WAIT);
  await openQueue('MySourceQueue');
  await page.locator('[data-count="available"]').getByText('5', { exact: true }).waitFor(WAIT);
  await screenshot(page, 'seed001-messages-back-in-source');
  tab.expectNoErrors();
});

test('a running redrive is cancelled from the status panel and ends "Cancelled"', async () => {
  // Setup through the API: 20 messages dead-lettered from MySourceQueue (received twice).
  const src = server.queueUrl('MySourceQueue');
  await server.api('PurgeQueue', { QueueUrl: src });
  for (let i = 0; i < 2; i++) {
    await server.api('SendMessageBatch', {
      QueueUrl: src,
      Entries: Array.from({ length: 10 }, (_, j) => ({ Id: `m${j}`, MessageBody: `cancel-me ${i * 10 + j}` })),
    });
  }
  for (let i = 0; i < 4; i++) {
    await server.api('ReceiveMessage', { QueueUrl: src, MaxNumberOfMessages: 10, VisibilityTimeout: 0 });
  }
  await openQueue('MyDLQ');
  await page.locator('[data-count="available"]').getByText('20', { exact: true }).waitFor(WAIT);
  await page.getByRole('link', { name: 'Start DLQ redrive' }).click();
  await page.getByRole('radio', { name: 'Custom max velocity' }).check();
  await page.getByLabel('Maximum messages per second').fill('1');
  await page.getByRole('button', { name: 'DLQ redrive' }).click();
  const panel = page.locator('#redrive-status');
  await panel.locator('[data-status]').getByText('Running').waitFor(WAIT);
  await page.getByRole('link', { name: 'Queues' }).first().click();
  await page.locator('tr[data-queue="MyDLQ"] td.hide-narrow').getByText('Redrive running').waitFor(WAIT);
  await page.getByRole('link', { name: 'MyDLQ', exact: true }).click();
  await page.getByRole('tab', { name: 'DLQ redrive' }).click();
  await screenshot(page, 'seed001-redrive-to-cancel');
  await panel.getByRole('button', { name: 'Cancel DLQ redrive' }).click();
  await panel.locator('[data-status]').getByText('Cancelled').waitFor(WAIT);
  const moved = await panel.getByText(/ of 20$/).innerText();
  assert.ok(Number(moved.split(' ')[0]) < 20, `cancelled before the end: ${moved}`);
  await page.locator('#redrive-history').getByText('Cancelled').waitFor();
  await screenshot(page, 'seed001-redrive-cancelled');
  tab.expectNoErrors();
});

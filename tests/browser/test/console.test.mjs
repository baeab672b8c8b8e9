// The rest of the console, in headless Chromium: a FIFO queue's send and poll, keyboard use,
// a phone-width screen, attribute editing (and the server's refusal), warnings on risky
// setups, tags, the depth chart, a move task started through the API showing in the console,
// Purge and Delete with confirmation.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WAIT, screenshot, startConsole } from '../helpers.mjs';

let ui;
let server;
let tab;
let page;

before(async () => {
  ui = await startConsole();
  ({ server, tab, page } = ui);
});

after(async () => {
  await ui?.close();
});

async function openQueue(name) {
  await page.goto(`${server.endpoint}/console#/queues/${encodeURIComponent(name)}`);
  await page.getByRole('heading', { name }).waitFor(WAIT);
}

test('a FIFO queue is created by keyboard alone, and its messages are sent with group and deduplication ids and polled', async () => {
  await page.goto(server.endpoint + '/console');
  await page.getByLabel('Search queues by name').waitFor();
  // Keyboard: from the search box, Tab reaches "Create queue"; Enter opens it.
  await page.getByLabel('Search queues by name').focus();
  let reached = false;
  for (let i = 0; i < 8 && !reached; i++) {
    await page.keyboard.press('Shift+Tab');
    reached = (await page.evaluate(() => document.activeElement.textContent)) === 'Create queue';
  }
  assert.ok(reached, 'Create queue is reachable by keyboard');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Create queue' }).waitFor();
  await page.getByRole('radio', { name: 'FIFO' }).focus();
  await page.keyboard.press('Space');
  await page.getByRole('heading', { name: 'FIFO queue settings' }).waitFor();
  await page.getByLabel('Name', { exact: true }).focus();
  await page.keyboard.type('orders.fifo');
  await page.keyboard.press('Enter');
  await page.getByText('Queue orders.fifo created successfully.').waitFor(WAIT);
  await page.getByText('FIFO', { exact: true }).first().waitFor();

  await page.getByRole('link', { name: 'Send and receive messages' }).click();
  await page.getByLabel('Message group ID').waitFor();
  for (const [body, dedup] of [['first', 'd1'], ['first again', 'd1'], ['second', 'd2']]) {
    await page.getByLabel('Message body').fill(body);
    await page.getByLabel('Message group ID').fill('g1');
    await page.getByLabel('Message deduplication ID').fill(dedup);
    await page.getByRole('button', { name: 'Send message' }).click();
    await page.getByText('Your message has been sent').waitFor(WAIT);
    await page.getByRole('button', { name: 'Clear content' }).click();
  }
  // The second "d1" was a duplicate: two messages, as the server decided.
  await page.locator('#available-count').getByText('2', { exact: true }).waitFor(WAIT);
  await page.getByLabel('Polling duration').fill('0');
  await page.getByRole('button', { name: 'Poll for messages' }).click();
  await page.getByText('Received 2 messages.').waitFor(WAIT);
  const bodies = await page.locator('#received pre[data-body]').allInnerTexts();
  assert.deepEqual(bodies, ['first', 'second']);
  await page.locator('#received').getByText('Group g1').first().waitFor();
  await screenshot(page, 'console-fifo-poll');

  // A received message is deleted from the list.
  await page.locator('#received article').first().getByRole('button', { name: 'Delete' }).click();
  await page.getByText(/^Message .* deleted\.$/).waitFor(WAIT);
  assert.equal(await page.locator('#received article').count(), 1);
  tab.expectNoErrors();
});

test('a FIFO send without a group id shows the server\'s own error', async () => {
  await page.getByLabel('Message body').fill('no group');
  await page.getByLabel('Message group ID').fill('');
  await page.getByRole('button', { name: 'Send message' }).click();
  await page.getByRole('alert').getByText('MissingRequiredParameter: The request must contain the parameter MessageGroupId.').waitFor(WAIT);
  const errors = tab.takeErrors();
  assert.equal(errors.length, 1, errors.join('\n'));
  assert.match(errors[0], /status of 400/);
});

test('risky setups are warned about on the queue page, each with its reason', async () => {
  await server.api('CreateQueue', { QueueName: 'short-dlq', Attributes: { MessageRetentionPeriod: '60' } });
  await server.api('CreateQueue', {
    QueueName: 'risky',
    Attributes: {
      VisibilityTimeout: '5',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: server.queueArn('short-dlq'), maxReceiveCount: 1 }),
    },
  });
  await openQueue('risky');
  const warnings = page.locator('#warnings');
  await warnings.getByText('The dead-letter queue keeps messages for less time than this queue').waitFor(WAIT);
  await warnings.getByText('can expire in short-dlq').waitFor();
  await warnings.getByText('Maximum receives 1 with a short visibility timeout').waitFor();
  await server.api('DeleteQueue', { QueueUrl: server.queueUrl('short-dlq') });
  await warnings.getByText('Its dead-letter queue does not exist').waitFor(WAIT);
  await screenshot(page, 'console-warnings');

  // A chain (chain-a → chain-b → chain-c) and a cycle (loop-x ⇄ loop-y).
  const policy = (to) => JSON.stringify({ deadLetterTargetArn: server.queueArn(to), maxReceiveCount: 5 });
  await server.api('CreateQueue', { QueueName: 'chain-c' });
  await server.api('CreateQueue', { QueueName: 'chain-b', Attributes: { RedrivePolicy: policy('chain-c') } });
  await server.api('CreateQueue', { QueueName: 'chain-a', Attributes: { RedrivePolicy: policy('chain-b') } });
  await server.api('CreateQueue', { QueueName: 'loop-x' });
  await server.api('CreateQueue', { QueueName: 'loop-y', Attributes: { RedrivePolicy: policy('loop-x') } });
  await server.api('SetQueueAttributes', { QueueUrl: server.queueUrl('loop-x'), Attributes: { RedrivePolicy: policy('loop-y') } });
  await openQueue('chain-a');
  await warnings.getByText('The dead-letter queue is itself a source of another dead-letter queue').waitFor(WAIT);
  await openQueue('chain-b');
  await warnings.getByText('This dead-letter queue is itself a source of another dead-letter queue').waitFor(WAIT);
  await warnings.getByText('use Peek messages instead').waitFor();
  await openQueue('loop-x');
  await warnings.getByText('Dead-letter queues form a cycle').waitFor(WAIT);
  await warnings.getByText('loop-x → loop-y → loop-x').waitFor();
  tab.expectNoErrors();
});

test('attributes are edited and validated by the server', async () => {
  await openQueue('risky');
  await page.getByRole('link', { name: 'Edit' }).click();
  await page.getByLabel('Visibility timeout').fill('50000');
  await page.getByRole('radio', { name: 'Disabled' }).first().check();
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('alert').getByText(/^InvalidAttributeValue: Invalid value for the parameter VisibilityTimeout/).waitFor(WAIT);
  assert.equal(tab.takeErrors().length, 1);
  await page.getByLabel('Visibility timeout').fill('45');
  // The access policy, as typed: first one the server refuses, then a valid one.
  await page.getByLabel('Access policy').fill('{"Statement": "nope"');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('alert').getByText(/^InvalidAttributeValue: Invalid value for the parameter Policy/).waitFor(WAIT);
  assert.equal(tab.takeErrors().length, 1);
  const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: '*', Action: 'sqs:SendMessage', Resource: server.queueArn('risky') }] };
  await page.getByLabel('Access policy').fill(JSON.stringify(policy));
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByText('Queue risky saved.').waitFor(WAIT);
  await page.getByRole('tab', { name: 'Details' }).click();
  await page.getByText('45 s').waitFor(WAIT);
  const saved = await server.api('GetQueueAttributes', { QueueUrl: server.queueUrl('risky'), AttributeNames: ['Policy'] });
  assert.deepEqual(JSON.parse(saved.Attributes.Policy).Statement[0].Action, 'sqs:SendMessage');
  await page.getByRole('tab', { name: 'Dead-letter queue' }).click();
  await page.getByText('No dead-letter queue. Choose Edit to enable one.').waitFor(WAIT);
  tab.expectNoErrors();
});

test('tags are added and removed on the Tagging tab', async () => {
  await page.getByRole('tab', { name: 'Tagging' }).click();
  await page.getByText('No tags.').waitFor(WAIT);
  await page.getByLabel('Tag key').fill('team');
  await page.getByLabel('Tag value').fill('payments');
  await page.getByRole('button', { name: 'Add tag' }).click();
  await page.getByRole('cell', { name: 'payments' }).waitFor(WAIT);
  assert.deepEqual((await server.api('ListQueueTags', { QueueUrl: server.queueUrl('risky') })).Tags, { team: 'payments' });
  await page.getByRole('button', { name: 'Remove' }).click();
  await page.getByText('No tags.').waitFor(WAIT);
  tab.expectNoErrors();
});

test('a redrive started through the API shows in the console, and the depth chart draws the DLQ', async () => {
  await server.api('CreateQueue', { QueueName: 'api-dlq' });
  await server.api('CreateQueue', {
    QueueName: 'api-src',
    Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: server.queueArn('api-dlq'), maxReceiveCount: 1 }) },
  });
  const src = server.queueUrl('api-src');
  await server.api('SendMessageBatch', { QueueUrl: src, Entries: [1, 2, 3].map((i) => ({ Id: `m${i}`, MessageBody: `m${i}` })) });
  for (let i = 0; i < 2; i++) await server.api('ReceiveMessage', { QueueUrl: src, MaxNumberOfMessages: 10, VisibilityTimeout: 0 });
  await openQueue('api-dlq');
  await page.locator('[data-count="available"]').getByText('3', { exact: true }).waitFor(WAIT);
  await page.getByRole('tab', { name: 'Monitoring' }).click();
  const chart = page.getByRole('img', { name: /Queue depth over the last hour/ });
  await chart.waitFor(WAIT);
  assert.match(await chart.getAttribute('aria-label'), /Messages available: 3 now/);
  assert.match(await chart.getAttribute('aria-label'), /Dead-letter arrivals/);
  assert.ok((await chart.locator('polyline, circle').count()) >= 3, 'each series is drawn');
  await screenshot(page, 'console-monitoring');

  await server.api('StartMessageMoveTask', { SourceArn: server.queueArn('api-dlq') });
  await page.getByRole('tab', { name: 'DLQ redrive' }).click();
  await page.locator('#redrive-status [data-status]').getByText('Successfully completed').waitFor(WAIT);
  await page.locator('#redrive-status').getByText('3 of 3').waitFor();
  await page.locator('#redrive-status').getByText('System optimized').waitFor();
  tab.expectNoErrors();
});

test('at phone width the queue list and a queue page fit the screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(server.endpoint + '/console#/queues');
  await page.locator('tr[data-queue="api-src"]').waitFor(WAIT);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  // The table fits too (no sideways scrolling to read a count), the DLQ badge under the name.
  const tableOverflow = await page.locator('.table-wrap').evaluate((el) => el.scrollWidth - el.clientWidth);
  assert.ok(tableOverflow <= 0, `the queue table is ${tableOverflow}px wider than the screen`);
  await page.locator('tr[data-queue="api-dlq"] .show-narrow').getByText('DLQ', { exact: true }).waitFor();
  await screenshot(page, 'console-phone-queue-list');
  await openQueue('api-src');
  assert.ok((await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)) <= 0);
  await screenshot(page, 'console-phone-queue-page');
  await page.setViewportSize({ width: 1280, height: 800 });
  tab.expectNoErrors();
});

test('Purge and Delete ask for confirmation first', async () => {
  await openQueue('api-src');
  await page.locator('[data-count="available"]').getByText('3', { exact: true }).waitFor(WAIT);
  await page.getByRole('button', { name: 'Purge' }).click();
  const dialog = page.getByRole('dialog', { name: 'Purge queue api-src?' });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  assert.equal((await server.api('GetQueueAttributes', { QueueUrl: server.queueUrl('api-src'), AttributeNames: ['ApproximateNumberOfMessages'] })).Attributes.ApproximateNumberOfMessages, '3');
  await page.getByRole('button', { name: 'Purge' }).click();
  await dialog.getByLabel('Type purge to confirm').fill('purge');
  await dialog.getByRole('button', { name: 'Purge' }).click();
  await page.getByText('Queue api-src purged.').waitFor(WAIT);
  await page.locator('[data-count="available"]').getByText('0', { exact: true }).waitFor(WAIT);

  await page.goto(server.endpoint + '/console#/queues');
  await page.getByRole('radio', { name: 'Select api-src' }).check();
  await page.getByRole('button', { name: 'Delete' }).click();
  const del = page.getByRole('dialog', { name: 'Delete queue api-src?' });
  await del.getByLabel('Type confirm to confirm').fill('confirm');
  await del.getByRole('button', { name: 'Delete' }).click();
  await page.getByText('Queue api-src deleted.').waitFor(WAIT);
  await page.locator('tr[data-queue="api-src"]').waitFor({ state: 'detached', ...WAIT });
  tab.expectNoErrors();
});

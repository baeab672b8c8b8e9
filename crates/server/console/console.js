// Redrive console. Plain JavaScript, no framework, no build step: served from the binary.
//
// The console holds no SQS rule of its own. Every action is an API call through the
// server's guarded console endpoint (POST console/api) in the JSON 1.0 protocol —
// `AmazonSQS.<Action>` for SQS, `Redrive_v1.<Operation>` for the extension API — so every
// validation and every error message is the server's. Views re-read what they show every
// REFRESH_MS, so counts and move tasks started elsewhere (the CLI, an SDK) appear without reload.
'use strict';

const REFRESH_MS = 2000;
const TOKEN = document.querySelector('meta[name="redrive-console-token"]').content;
// `signin`: the server has a credentials file, and the console acts as the signed-in key's account.
const AUTH = document.querySelector('meta[name="redrive-console-auth"]').content;
const main = document.getElementById('main');
const flashBox = document.getElementById('flash');
const live = document.getElementById('live');

// ---------------------------------------------------------------- the API

class ApiFailure extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
  toString() {
    return this.code ? `${this.code}: ${this.message}` : this.message;
  }
}

async function call(target, input) {
  let res;
  try {
    res = await fetch('console/api', {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.0',
        'X-Amz-Target': target,
        'X-Redrive-Console-Token': TOKEN,
      },
      body: JSON.stringify(input || {}),
    });
  } catch (e) {
    throw new ApiFailure('', 'The server cannot be reached.');
  }
  const text = await res.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch (e) {
    throw new ApiFailure(String(res.status), text);
  }
  if (!res.ok) {
    const code = (data.__type || '').split('#').pop().replace(/Exception$/, '') || String(res.status);
    throw new ApiFailure(code, data.message || data.Message || res.statusText);
  }
  return data;
}
const sqs = (action, input) => call('AmazonSQS.' + action, input);
const ext = (op, input) => call('Redrive_v1.' + op, input);

// ---------------------------------------------------------------- small helpers

/** Build an element: h('a', {href: '#'}, 'text', child...). Text is always text (no HTML). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const num = (n) => Number(n || 0).toLocaleString('en-US');
const nameOf = (url) => decodeURIComponent(url.split('/').filter(Boolean).pop());
const nameOfArn = (arn) => (arn || '').split(':').pop();
const isFifoName = (name) => name.endsWith('.fifo');

function duration(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

function when(ms) {
  const d = new Date(Number(ms));
  return isNaN(d) ? '—' : d.toLocaleString('en-US', { hour12: false });
}

function flash(kind, text) {
  flashBox.className = 'flash ' + kind;
  flashBox.textContent = text;
  if (kind === 'error') flashBox.scrollIntoView({ block: 'nearest' });
}
function clearFlash() {
  flashBox.className = 'flash';
  flashBox.textContent = '';
}
function fail(e) {
  flash('error', e instanceof ApiFailure ? e.toString() : String(e && e.message ? e.message : e));
}

/** Run an action from a button: disabled while it runs; its error shown as the server words it. */
async function act(button, fn) {
  if (button) button.disabled = true;
  try {
    await fn();
  } catch (e) {
    fail(e);
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}

let fieldCount = 0;
/** A labelled input; the hint is its description, not part of its name. */
function field(label, input, hint) {
  fieldCount += 1;
  const id = input.id || 'f' + fieldCount;
  input.id = id;
  if (hint) input.setAttribute('aria-describedby', id + '-hint');
  return h('div', { class: 'field' }, h('label', { for: id }, label), hint ? h('span', { class: 'hint', id: id + '-hint' }, hint) : null, input);
}

function radios(name, legend, options, checked, onchange) {
  return h(
    'fieldset',
    {},
    h('legend', {}, legend),
    options.map(([value, label, hint]) =>
      h(
        'label',
        { class: 'choice' },
        h('input', { type: 'radio', name, value, checked: value === checked, onchange, 'aria-describedby': hint ? `${name}-${value}-hint` : null }),
        h('span', {}, label, hint ? h('span', { class: 'hint', id: `${name}-${value}-hint` }, hint) : null),
      ),
    ),
  );
}
const checkedValue = (form, name) => (form.querySelector(`input[name="${name}"]:checked`) || {}).value;

function confirmDialog(title, text, confirmWord, actionLabel) {
  return new Promise((resolve) => {
    const input = confirmWord ? h('input', { type: 'text', 'aria-label': `Type ${confirmWord} to confirm`, autocomplete: 'off' }) : null;
    const dlg = h(
      'dialog',
      { 'aria-labelledby': 'dlg-title' },
      h('h2', { id: 'dlg-title' }, title),
      h('p', {}, text),
      confirmWord ? field(`To confirm, type "${confirmWord}" in the field.`, input) : null,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', onclick: () => done(false) }, 'Cancel'),
        h('button', { type: 'button', class: 'primary', onclick: () => done(true) }, actionLabel),
      ),
    );
    function done(ok) {
      if (ok && input && input.value !== confirmWord) {
        input.focus();
        return;
      }
      dlg.close();
      dlg.remove();
      resolve(ok);
    }
    dlg.addEventListener('cancel', () => {
      dlg.remove();
      resolve(false);
    });
    document.body.append(dlg);
    dlg.showModal();
    (input || dlg.querySelector('button.primary')).focus();
  });
}

// ---------------------------------------------------------------- reading queues

async function listQueueUrls() {
  const urls = [];
  let token;
  do {
    const out = await sqs('ListQueues', { MaxResults: 1000, NextToken: token });
    urls.push(...(out.QueueUrls || []));
    token = out.NextToken;
  } while (token);
  return urls;
}

async function attributesOf(url) {
  const out = await sqs('GetQueueAttributes', { QueueUrl: url, AttributeNames: ['All'] });
  return out.Attributes || {};
}

function redrivePolicy(attrs) {
  try {
    return attrs.RedrivePolicy ? JSON.parse(attrs.RedrivePolicy) : null;
  } catch (e) {
    return null;
  }
}

/** Every queue with its attributes, which queues feed which DLQ, and running redrives. */
async function loadQueues() {
  const urls = await listQueueUrls();
  const queues = await Promise.all(
    urls.map(async (url) => {
      try {
        return { url, name: nameOf(url), attrs: await attributesOf(url) };
      } catch (e) {
        return null; // deleted between the list and the read
      }
    }),
  );
  const list = queues.filter(Boolean);
  const byArn = new Map(list.map((q) => [q.attrs.QueueArn, q]));
  for (const q of list) q.sources = [];
  for (const q of list) {
    const p = redrivePolicy(q.attrs);
    q.policy = p;
    if (p && byArn.has(p.deadLetterTargetArn)) byArn.get(p.deadLetterTargetArn).sources.push(q.name);
  }
  await Promise.all(
    list.map(async (q) => {
      if (q.sources.length === 0) return;
      try {
        const t = await sqs('ListMessageMoveTasks', { SourceArn: q.attrs.QueueArn, MaxResults: 1 });
        q.running = (t.Results || []).some((r) => r.Status === 'RUNNING');
      } catch (e) {
        q.running = false;
      }
    }),
  );
  await Promise.all(
    list.map(async (q) => {
      try {
        const p = await ext('PeekMessages', { QueueUrl: q.url, MaxResults: 1 });
        const first = (p.Messages || [])[0];
        q.oldest = first ? Date.now() - Number(first.Attributes.SentTimestamp) : null;
      } catch (e) {
        q.oldest = null;
      }
    }),
  );
  return { list, byArn };
}

// ---------------------------------------------------------------- router

let timers = [];
let generation = 0; // which render a timer belongs to: a view left behind stops refreshing
function every(gen, ms, fn) {
  if (gen !== generation) return Promise.resolve();
  const run = async () => {
    if (gen !== generation) return;
    try {
      await fn();
      live.textContent = 'Updated ' + new Date().toLocaleTimeString('en-US', { hour12: false });
    } catch (e) {
      live.textContent = 'Update failed: ' + e;
    }
  };
  timers.push(setInterval(run, ms));
  return run();
}
function stopTimers() {
  timers.forEach(clearInterval);
  timers = [];
}

const routes = [
  [/^#\/queues$/, viewQueues],
  [/^#\/create$/, viewCreate],
  [/^#\/queues\/([^/]+)$/, viewQueue],
  [/^#\/queues\/([^/]+)\/edit$/, viewEdit],
  [/^#\/queues\/([^/]+)\/send-receive$/, viewSendReceive],
  [/^#\/queues\/([^/]+)\/redrive$/, viewStartRedrive],
  [/^#\/queues\/([^/]+)\/redrive\/filtered$/, (qname) => viewStartRedrive(qname, true)],
];

let keepFlash = false;
function go(hash, withFlash) {
  keepFlash = Boolean(withFlash);
  if (location.hash === hash) render();
  else location.hash = hash;
}

async function render() {
  generation += 1;
  stopTimers();
  if (!keepFlash) clearFlash();
  keepFlash = false;
  const hash = location.hash || '#/queues';
  for (const [re, view] of routes) {
    const m = hash.match(re);
    if (m) {
      main.replaceChildren();
      try {
        await view(...m.slice(1).map(decodeURIComponent));
      } catch (e) {
        fail(e);
      }
      return;
    }
  }
  go('#/queues');
}

async function queueUrlOf(name) {
  const out = await sqs('GetQueueUrl', { QueueName: name });
  return out.QueueUrl;
}

const queueLink = (name, suffix) => '#/queues/' + encodeURIComponent(name) + (suffix || '');

// ---------------------------------------------------------------- Queues

async function viewQueues() {
  const gen = generation;
  document.title = 'Queues — Redrive';
  let selected = null;
  let data = { list: [] };
  const filter = h('input', { type: 'search', placeholder: 'Search queues by name', 'aria-label': 'Search queues by name', oninput: draw });
  const tbody = h('tbody');
  const deleteBtn = h('button', { type: 'button', disabled: true, onclick: () => deleteQueue(selected) }, 'Delete');
  const redriveBtn = h(
    'button',
    { type: 'button', disabled: true, onclick: () => go(queueLink(selected, '/redrive')) },
    'Start DLQ redrive',
  );
  const sendBtn = h(
    'button',
    { type: 'button', disabled: true, onclick: () => go(queueLink(selected, '/send-receive')) },
    'Send and receive messages',
  );
  const count = h('span', { class: 'muted' });
  main.append(
    h(
      'section',
      { class: 'panel', 'aria-labelledby': 'queues-title' },
      h(
        'div',
        { class: 'panel-head' },
        h('h1', { id: 'queues-title' }, 'Queues ', count),
        h('div', { class: 'actions' }, sendBtn, redriveBtn, deleteBtn, h('a', { class: 'button primary', href: '#/create' }, 'Create queue')),
      ),
      h('div', { class: 'field' }, filter),
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { id: 'queue-table' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, h('span', { class: 'skip' }, 'Select')),
              h('th', {}, 'Name'),
              h('th', { class: 'hide-narrow' }, 'Type'),
              h('th', { class: 'num' }, 'Messages available'),
              h('th', { class: 'num' }, 'Messages in flight'),
              h('th', { class: 'num hide-narrow' }, 'Messages delayed'),
              h('th', { class: 'hide-narrow' }, 'Oldest message'),
              h('th', { class: 'hide-narrow' }, 'Dead-letter queue'),
            ),
          ),
          tbody,
        ),
      ),
    ),
  );

  function draw() {
    const text = filter.value.trim().toLowerCase();
    const shown = data.list.filter((q) => q.name.toLowerCase().includes(text));
    count.textContent = `(${shown.length})`;
    if (selected && !data.list.some((q) => q.name === selected)) selected = null;
    const rows = shown.map((q) => {
      const fifo = q.attrs.FifoQueue === 'true';
      const radio = h('input', {
        type: 'radio',
        name: 'queue',
        value: q.name,
        'aria-label': 'Select ' + q.name,
        checked: q.name === selected,
        onchange: () => {
          selected = q.name;
          draw();
        },
      });
      return h(
        'tr',
        { class: q.name === selected ? 'selected' : '', 'data-queue': q.name },
        h('td', {}, radio),
        h(
          'td',
          {},
          h('a', { href: queueLink(q.name) }, q.name),
          // On a phone the Type and Dead-letter queue columns fold under the name.
          h('div', { class: 'show-narrow' }, fifo ? h('span', { class: 'badge fifo' }, 'FIFO') : null, q.sources.length ? h('span', { class: 'badge dlq' }, 'DLQ') : null, q.running ? h('span', { class: 'badge redrive' }, 'Redrive running') : null),
        ),
        h('td', { class: 'hide-narrow' }, fifo ? 'FIFO' : 'Standard'),
        h('td', { class: 'num', 'data-col': 'available' }, num(q.attrs.ApproximateNumberOfMessages)),
        h('td', { class: 'num', 'data-col': 'inflight' }, num(q.attrs.ApproximateNumberOfMessagesNotVisible)),
        h('td', { class: 'num hide-narrow', 'data-col': 'delayed' }, num(q.attrs.ApproximateNumberOfMessagesDelayed)),
        h('td', { class: 'hide-narrow' }, q.oldest === null ? '—' : duration(q.oldest)),
        h(
          'td',
          { class: 'hide-narrow' },
          q.sources.length ? h('span', { class: 'badge dlq', title: 'Dead-letter queue of ' + q.sources.join(', ') }, 'DLQ') : null,
          q.sources.length ? h('span', { class: 'muted' }, 'for ' + q.sources.join(', ')) : null,
          q.running ? h('span', { class: 'badge redrive' }, 'Redrive running') : null,
          q.policy ? h('span', { class: 'muted' }, 'DLQ: ' + nameOfArn(q.policy.deadLetterTargetArn)) : null,
        ),
      );
    });
    tbody.replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: 8, class: 'empty' }, data.list.length ? 'No queue matches the filter.' : 'No queues yet. Choose Create queue.'))]));
    const sel = data.list.find((q) => q.name === selected);
    deleteBtn.disabled = !sel;
    sendBtn.disabled = !sel;
    redriveBtn.disabled = !(sel && sel.sources.length);
  }

  async function deleteQueue(name) {
    if (!(await confirmDialog(`Delete queue ${name}?`, 'The queue and every message in it are deleted. This cannot be undone.', 'confirm', 'Delete'))) return;
    await act(deleteBtn, async () => {
      await sqs('DeleteQueue', { QueueUrl: await queueUrlOf(name) });
      selected = null;
      flash('success', `Queue ${name} deleted.`);
      data = await loadQueues();
      draw();
    });
  }

  await every(gen, REFRESH_MS, async () => {
    data = await loadQueues();
    draw();
  });
  filter.focus();
}

// ---------------------------------------------------------------- queue attribute forms

const MAIN_ATTRIBUTES = [
  ['VisibilityTimeout', 'Visibility timeout', 'Seconds, 0 to 43,200 (12 hours).', '30'],
  ['MessageRetentionPeriod', 'Message retention period', 'Seconds, 60 to 1,209,600 (14 days).', '345600'],
  ['DelaySeconds', 'Delivery delay', 'Seconds, 0 to 900 (15 minutes).', '0'],
  ['MaximumMessageSize', 'Maximum message size', 'Bytes, 1,024 to 1,048,576 (1 MiB).', '1048576'],
  ['ReceiveMessageWaitTimeSeconds', 'Receive message wait time', 'Seconds, 0 to 20.', '0'],
];

/** The attribute fields of Create queue and Edit; `read(form)` returns the attributes to send. */
function attributeSections(attrs, dlqChoices, fifo) {
  const inputs = {};
  const config = h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'Configuration'),
    h(
      'div',
      { class: 'grid2' },
      MAIN_ATTRIBUTES.map(([name, label, hint, def]) => {
        inputs[name] = h('input', { type: 'number', name, value: attrs[name] ?? def, inputmode: 'numeric' });
        return field(label, inputs[name], hint);
      }),
    ),
  );
  const fifoBox = h('div', {});
  const contentDedup = h('input', { type: 'checkbox', name: 'ContentBasedDeduplication', checked: attrs.ContentBasedDeduplication === 'true' });
  fifoBox.append(h('label', { class: 'choice' }, contentDedup, h('span', {}, 'Content-based deduplication', h('span', { class: 'hint' }, 'A SHA-256 of the body is the deduplication id when none is given.'))));
  const highThroughput = h('input', { type: 'checkbox', name: 'HighThroughput', checked: attrs.FifoThroughputLimit === 'perMessageGroupId' });
  fifoBox.append(h('label', { class: 'choice' }, highThroughput, h('span', {}, 'Enable high throughput FIFO', h('span', { class: 'hint' }, 'Deduplication per message group, throughput limit per message group.'))));
  const fifoSection = h('section', { class: 'panel', hidden: !fifo }, h('h2', {}, 'FIFO queue settings'), fifoBox);

  const policy = redrivePolicy(attrs);
  const dlqSelect = h(
    'select',
    { name: 'dlq' },
    h('option', { value: '' }, 'Choose queue'),
    dlqChoices.map((q) => h('option', { value: q.attrs.QueueArn, selected: policy && policy.deadLetterTargetArn === q.attrs.QueueArn }, `${q.attrs.QueueArn}`)),
  );
  if (policy && !dlqChoices.some((q) => q.attrs.QueueArn === policy.deadLetterTargetArn)) {
    dlqSelect.append(h('option', { value: policy.deadLetterTargetArn, selected: true }, policy.deadLetterTargetArn + ' (not found)'));
  }
  const maxReceives = h('input', { type: 'number', name: 'maxReceiveCount', value: policy ? policy.maxReceiveCount : '10', inputmode: 'numeric' });
  const dlqFields = h('div', { hidden: !policy }, field('Choose queue', dlqSelect, 'The ARN of the dead-letter queue (same type as this queue).'), field('Maximum receives', maxReceives, 'Between 1 and 1,000: receives before a message moves to the dead-letter queue.'));
  const dlqSection = h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'Dead-letter queue'),
    h('p', { class: 'muted' }, 'Send undeliverable messages to a dead-letter queue.'),
    radios('dlq-state', 'Dead-letter queue', [['disabled', 'Disabled'], ['enabled', 'Enabled']], policy ? 'enabled' : 'disabled', (e) => {
      dlqFields.hidden = e.target.value !== 'enabled';
    }),
    dlqFields,
  );

  let allow = null;
  try {
    allow = attrs.RedriveAllowPolicy ? JSON.parse(attrs.RedriveAllowPolicy) : null;
  } catch (e) {
    allow = null;
  }
  const allowArns = h('textarea', { name: 'sourceQueueArns', rows: 3, placeholder: 'One source queue ARN a line' }, allow && allow.sourceQueueArns ? allow.sourceQueueArns.join('\n') : '');
  const allowByQueue = h('div', { hidden: !(allow && allow.redrivePermission === 'byQueue') }, field('Source queue ARNs', allowArns, 'Up to 10.'));
  const allowChoice = h('div', { hidden: !allow });
  allowChoice.append(
    radios('allow-permission', 'Redrive permission', [['allowAll', 'Allow all'], ['byQueue', 'By queue'], ['denyAll', 'Deny all']], allow ? allow.redrivePermission : 'allowAll', (e) => {
      allowByQueue.hidden = e.target.value !== 'byQueue';
    }),
    allowByQueue,
  );
  const allowSection = h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'Redrive allow policy'),
    h('p', { class: 'muted' }, 'Which source queues may use this queue as their dead-letter queue.'),
    radios('allow-state', 'Redrive allow policy', [['disabled', 'Disabled'], ['enabled', 'Enabled']], allow ? 'enabled' : 'disabled', (e) => {
      allowChoice.hidden = e.target.value !== 'enabled';
    }),
    allowChoice,
  );

  // Encryption and the access policy: sent only when changed, as typed (the server validates).
  const sse = h('input', { type: 'checkbox', name: 'SqsManagedSseEnabled', checked: attrs.SqsManagedSseEnabled !== 'false' });
  const kmsKey = h('input', { type: 'text', name: 'KmsMasterKeyId', value: attrs.KmsMasterKeyId || '', autocomplete: 'off' });
  const kmsReuse = h('input', { type: 'number', name: 'KmsDataKeyReusePeriodSeconds', value: attrs.KmsDataKeyReusePeriodSeconds || '300', inputmode: 'numeric' });
  const policyText = h('textarea', { name: 'Policy', rows: 6, placeholder: '{"Version":"2012-10-17","Statement":[…]}' }, attrs.Policy || '');
  const advanced = h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'Encryption and access policy'),
    h('label', { class: 'choice' }, sse, h('span', {}, 'Server-side encryption with SQS-owned keys (SSE-SQS)')),
    h('div', { class: 'grid2' }, field('KMS key', kmsKey, 'SSE-KMS key id or alias; replaces SSE-SQS.'), field('Data key reuse period', kmsReuse, 'Seconds, 60 to 86,400.')),
    field('Access policy', policyText, 'The queue\u2019s Policy document (JSON).'),
  );
  const initial = { SqsManagedSseEnabled: sse.checked, KmsMasterKeyId: kmsKey.value, KmsDataKeyReusePeriodSeconds: kmsReuse.value, Policy: policyText.value };

  function read(form, isFifo) {
    const out = {};
    for (const [name] of MAIN_ATTRIBUTES) out[name] = inputs[name].value.trim();
    const now = { SqsManagedSseEnabled: sse.checked, KmsMasterKeyId: kmsKey.value.trim(), KmsDataKeyReusePeriodSeconds: kmsReuse.value.trim(), Policy: policyText.value.trim() };
    for (const [k, v] of Object.entries(now)) if (v !== initial[k]) out[k] = String(v);
    if (isFifo) {
      out.ContentBasedDeduplication = String(contentDedup.checked);
      out.DeduplicationScope = highThroughput.checked ? 'messageGroup' : 'queue';
      out.FifoThroughputLimit = highThroughput.checked ? 'perMessageGroupId' : 'perQueue';
    }
    if (checkedValue(form, 'dlq-state') === 'enabled') {
      // The server validates the whole policy (missing queue, Maximum receives 0, type mismatch).
      out.RedrivePolicy = JSON.stringify({ deadLetterTargetArn: dlqSelect.value, maxReceiveCount: maxReceives.value.trim() });
    } else {
      out.RedrivePolicy = '';
    }
    if (checkedValue(form, 'allow-state') === 'enabled') {
      const permission = checkedValue(form, 'allow-permission');
      const p = { redrivePermission: permission };
      if (permission === 'byQueue') p.sourceQueueArns = allowArns.value.split(/\s+/).filter(Boolean);
      out.RedriveAllowPolicy = JSON.stringify(p);
    } else {
      out.RedriveAllowPolicy = '';
    }
    return out;
  }
  return { sections: [config, fifoSection, dlqSection, allowSection, advanced], fifoSection, read };
}

async function viewCreate() {
  document.title = 'Create queue — Redrive';
  const { list } = await loadQueues();
  const name = h('input', { type: 'text', name: 'name', autocomplete: 'off', placeholder: 'Enter a name' });
  let parts = attributeSections({}, list.filter((q) => q.attrs.FifoQueue !== 'true'), false);
  const holder = h('div', {}, parts.sections);
  const form = h(
    'form',
    { novalidate: true, onsubmit: (e) => (e.preventDefault(), submit()) },
    h('div', { class: 'crumbs' }, h('a', { href: '#/queues' }, 'Queues'), ' › Create queue'),
    h('h1', {}, 'Create queue'),
    h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Details'),
      radios('type', 'Type', [['standard', 'Standard', 'At-least-once delivery, best-effort ordering.'], ['fifo', 'FIFO', 'First-in-first-out delivery, exactly-once processing. The name ends in .fifo.']], 'standard', () => {
        const fifo = checkedValue(form, 'type') === 'fifo';
        parts = attributeSections({}, list.filter((q) => (q.attrs.FifoQueue === 'true') === fifo), fifo);
        holder.replaceChildren(...parts.sections);
      }),
      field('Name', name, 'Up to 80 characters: letters, numbers, hyphens and underscores (a FIFO name ends in .fifo).'),
    ),
    holder,
    h('div', { class: 'actions' }, h('a', { class: 'button', href: '#/queues' }, 'Cancel'), h('button', { type: 'submit', class: 'primary' }, 'Create queue')),
  );
  main.append(form);
  name.focus();

  async function submit() {
    const button = form.querySelector('button[type=submit]');
    await act(button, async () => {
      const fifo = checkedValue(form, 'type') === 'fifo';
      const attrs = parts.read(form, fifo);
      if (fifo) attrs.FifoQueue = 'true';
      for (const k of ['RedrivePolicy', 'RedriveAllowPolicy']) if (attrs[k] === '') delete attrs[k];
      const out = await sqs('CreateQueue', { QueueName: name.value.trim(), Attributes: attrs });
      flash('success', `Queue ${nameOf(out.QueueUrl)} created successfully.`);
      go(queueLink(nameOf(out.QueueUrl)), true);
    });
  }
}

async function viewEdit(qname) {
  document.title = `Edit ${qname} — Redrive`;
  const url = await queueUrlOf(qname);
  const [attrs, { list }] = await Promise.all([attributesOf(url), loadQueues()]);
  const fifo = attrs.FifoQueue === 'true';
  const parts = attributeSections(attrs, list.filter((q) => q.name !== qname && (q.attrs.FifoQueue === 'true') === fifo), fifo);
  const form = h(
    'form',
    { novalidate: true, onsubmit: (e) => (e.preventDefault(), submit()) },
    h('div', { class: 'crumbs' }, h('a', { href: '#/queues' }, 'Queues'), ' › ', h('a', { href: queueLink(qname) }, qname), ' › Edit'),
    h('h1', {}, `Edit ${qname}`),
    parts.sections,
    h('div', { class: 'actions' }, h('a', { class: 'button', href: queueLink(qname) }, 'Cancel'), h('button', { type: 'submit', class: 'primary' }, 'Save')),
  );
  main.append(form);
  async function submit() {
    await act(form.querySelector('button[type=submit]'), async () => {
      const out = parts.read(form, fifo);
      // Unchanged policies are not re-sent: an empty one would remove a policy set elsewhere.
      if (out.RedrivePolicy === '' && !attrs.RedrivePolicy) delete out.RedrivePolicy;
      if (out.RedriveAllowPolicy === '' && !attrs.RedriveAllowPolicy) delete out.RedriveAllowPolicy;
      await sqs('SetQueueAttributes', { QueueUrl: url, Attributes: out });
      flash('success', `Queue ${qname} saved.`);
      go(queueLink(qname), true);
    });
  }
}

// ---------------------------------------------------------------- a queue's page

async function viewQueue(qname) {
  const gen = generation;
  document.title = `${qname} — Redrive`;
  const url = await queueUrlOf(qname);
  // The open tab outlives a redraw (Refresh, Cancel) and a visit elsewhere, per queue.
  const tabKey = 'redrive-tab:' + qname;
  let current = sessionStorage.getItem(tabKey) || 'details';
  const head = h('div', {});
  const warnings = h('div', { id: 'warnings' });
  const counts = h('dl', { class: 'kv', id: 'counts' });
  const tabBar = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Queue sections' });
  const body = h('div', { role: 'tabpanel', id: 'tab-panel' });
  main.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/queues' }, 'Queues'), ' › ', qname),
    head,
    warnings,
    h('section', { class: 'panel', 'aria-label': 'Messages' }, counts),
    tabBar,
    body,
  );
  let snapshot = null;
  let tabState = {};

  const TABS = [
    ['details', 'Details'],
    ['dlq', 'Dead-letter queue'],
    ['redrive', 'DLQ redrive'],
    ['peek', 'Peek messages'],
    ['monitoring', 'Monitoring'],
    ['allow', 'Redrive allow policy'],
    ['tags', 'Tagging'],
  ];

  function drawHead(q, all) {
    const isDlq = q.sources.length > 0;
    head.replaceChildren(
      h(
        'div',
        { class: 'panel-head' },
        h('h1', {}, qname, ' ', q.attrs.FifoQueue === 'true' ? h('span', { class: 'badge fifo' }, 'FIFO') : null, isDlq ? h('span', { class: 'badge dlq' }, 'DLQ') : null, q.running ? h('span', { class: 'badge redrive' }, 'Redrive running') : null),
        h(
          'div',
          { class: 'actions' },
          h('a', { class: 'button', href: queueLink(qname, '/edit') }, 'Edit'),
          h('button', { type: 'button', onclick: (e) => purge(e.target) }, 'Purge'),
          h('button', { type: 'button', class: 'danger', onclick: (e) => remove(e.target) }, 'Delete'),
          isDlq ? h('a', { class: 'button', href: queueLink(qname, '/redrive') }, 'Start DLQ redrive') : null,
          h('a', { class: 'button primary', href: queueLink(qname, '/send-receive') }, 'Send and receive messages'),
        ),
      ),
    );
    counts.replaceChildren(
      kv('Messages available', num(q.attrs.ApproximateNumberOfMessages), 'available'),
      kv('Messages in flight', num(q.attrs.ApproximateNumberOfMessagesNotVisible), 'inflight'),
      kv('Messages delayed', num(q.attrs.ApproximateNumberOfMessagesDelayed), 'delayed'),
      kv('Oldest message', q.oldest === null ? '—' : duration(q.oldest)),
    );
    warnings.replaceChildren(...riskWarnings(q, all).map(([title, why]) => h('div', { class: 'warning', role: 'note' }, h('strong', {}, '⚠ ' + title + '. '), why)));
  }

  function drawTabs() {
    tabBar.replaceChildren(
      ...TABS.map(([id, label]) =>
        h(
          'button',
          {
            type: 'button',
            role: 'tab',
            id: 'tab-' + id,
            'aria-selected': String(id === current),
            tabindex: id === current ? '0' : '-1',
            onclick: () => switchTab(id),
            onkeydown: (e) => {
              const i = TABS.findIndex(([t]) => t === current);
              if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
                const next = TABS[(i + (e.key === 'ArrowRight' ? 1 : TABS.length - 1)) % TABS.length][0];
                switchTab(next);
                tabBar.querySelector('#tab-' + next).focus();
              }
            },
          },
          label,
        ),
      ),
    );
  }

  function switchTab(id) {
    current = id;
    sessionStorage.setItem(tabKey, id);
    tabState = {};
    body.replaceChildren();
    drawTabs();
    drawTab();
  }

  function drawTab() {
    if (!snapshot) return;
    const { q, all } = snapshot;
    const fn = { details: tabDetails, dlq: tabDlq, redrive: tabRedrive, peek: tabPeek, monitoring: tabMonitoring, allow: tabAllow, tags: tabTags }[current];
    fn(body, q, all, url, tabState);
  }

  async function refresh() {
    const all = await loadQueues();
    const q = all.list.find((x) => x.name === qname);
    if (!q) throw new ApiFailure('QueueDoesNotExist', 'The specified queue does not exist.');
    snapshot = { q, all };
    drawHead(q, all);
    drawTab();
  }

  async function purge(button) {
    if (!(await confirmDialog(`Purge queue ${qname}?`, 'Every message in the queue is deleted. This cannot be undone.', 'purge', 'Purge'))) return;
    await act(button, async () => {
      await sqs('PurgeQueue', { QueueUrl: url });
      flash('success', `Queue ${qname} purged.`);
      await refresh();
    });
  }
  async function remove(button) {
    if (!(await confirmDialog(`Delete queue ${qname}?`, 'The queue and every message in it are deleted. This cannot be undone.', 'confirm', 'Delete'))) return;
    await act(button, async () => {
      await sqs('DeleteQueue', { QueueUrl: url });
      flash('success', `Queue ${qname} deleted.`);
      go('#/queues', true);
    });
  }

  drawTabs();
  await every(gen, REFRESH_MS, refresh);
}

function kv(label, value, col) {
  return h('div', {}, h('dt', {}, label), h('dd', col ? { 'data-count': col } : {}, value));
}

/** Setups that can lose or loop messages, each with one line of why. */
function riskWarnings(q, all) {
  const out = [];
  const a = q.attrs;
  if (q.policy) {
    const dlq = all.byArn.get(q.policy.deadLetterTargetArn);
    if (!dlq) {
      out.push(['Its dead-letter queue does not exist', `${nameOfArn(q.policy.deadLetterTargetArn)} was deleted: messages past Maximum receives stay in this queue and are received again and again.`]);
    } else {
      if (Number(dlq.attrs.MessageRetentionPeriod) < Number(a.MessageRetentionPeriod)) {
        out.push(['The dead-letter queue keeps messages for less time than this queue', `A standard DLQ keeps a message's original enqueue time, so a message can expire in ${dlq.name} (${duration(Number(dlq.attrs.MessageRetentionPeriod) * 1000)}) before anyone looks at it.`]);
      }
      // Follow the chain: a DLQ that is itself a source, or a cycle back to this queue.
      const seen = new Set([q.name]);
      let hop = dlq;
      while (hop && hop.policy) {
        if (seen.has(hop.name)) {
          out.push(['Dead-letter queues form a cycle', `Messages can move round ${[...seen].join(' → ')} → ${hop.name} and never settle anywhere.`]);
          break;
        }
        seen.add(hop.name);
        hop = all.byArn.get(hop.policy.deadLetterTargetArn);
      }
      if (dlq.policy && !out.some(([t]) => t.startsWith('Dead-letter queues form'))) {
        out.push(['The dead-letter queue is itself a source of another dead-letter queue', `Receiving from ${dlq.name} to inspect it can push messages on to ${nameOfArn(dlq.policy.deadLetterTargetArn)}.`]);
      }
    }
    if (q.sources.length && !out.some(([t]) => t.startsWith('Dead-letter queues form'))) {
      out.push(['This dead-letter queue is itself a source of another dead-letter queue', `Polling ${q.name} to inspect its messages counts as receives and can move them on to ${nameOfArn(q.policy.deadLetterTargetArn)}; use Peek messages instead.`]);
    }
    if (Number(q.policy.maxReceiveCount) === 1 && Number(a.VisibilityTimeout) < 30) {
      out.push(['Maximum receives 1 with a short visibility timeout', `A consumer that takes longer than ${a.VisibilityTimeout} s (or one failed attempt) sends the message straight to the dead-letter queue.`]);
    }
  }
  return out;
}

function tabDetails(body, q) {
  const a = q.attrs;
  const rows = Object.keys(a)
    .sort()
    .map((k) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, a[k])));
  body.replaceChildren(
    h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Details'),
      h(
        'dl',
        { class: 'kv' },
        kv('Name', q.name),
        kv('Type', a.FifoQueue === 'true' ? 'FIFO' : 'Standard'),
        kv('ARN', a.QueueArn),
        kv('URL', q.url),
        kv('Visibility timeout', `${a.VisibilityTimeout} s`),
        kv('Message retention period', duration(Number(a.MessageRetentionPeriod) * 1000)),
        kv('Delivery delay', `${a.DelaySeconds} s`),
        kv('Maximum message size', `${num(a.MaximumMessageSize)} bytes`),
        kv('Receive message wait time', `${a.ReceiveMessageWaitTimeSeconds} s`),
        kv('Created', when(Number(a.CreatedTimestamp) * 1000)),
        kv('Last updated', when(Number(a.LastModifiedTimestamp) * 1000)),
      ),
    ),
    h('section', { class: 'panel' }, h('h2', {}, 'All attributes'), h('p', { class: 'muted' }, 'As GetQueueAttributes returns them. Change them with Edit.'), h('div', { class: 'table-wrap' }, h('table', {}, h('tbody', {}, rows)))),
  );
}

function tabDlq(body, q, all) {
  const p = q.policy;
  const section = h('section', { class: 'panel', id: 'dlq-panel' }, h('h2', {}, 'Dead-letter queue'));
  if (p) {
    const dlq = all.byArn.get(p.deadLetterTargetArn);
    section.append(
      h(
        'dl',
        { class: 'kv' },
        kv('Maximum receives', String(p.maxReceiveCount), 'max-receives'),
        h('div', {}, h('dt', {}, 'Dead-letter queue'), h('dd', {}, dlq ? h('a', { href: queueLink(dlq.name) }, p.deadLetterTargetArn) : p.deadLetterTargetArn + ' (does not exist)')),
      ),
    );
  } else {
    section.append(h('p', {}, 'No dead-letter queue. Choose Edit to enable one.'));
  }
  if (q.sources.length) {
    section.append(h('h3', {}, 'Source queues'), h('p', {}, 'This queue is the dead-letter queue of: ', q.sources.map((s, i) => [i ? ', ' : '', h('a', { href: queueLink(s) }, s)])));
  }
  body.replaceChildren(section);
}

function tabAllow(body, q) {
  let text = q.attrs.RedriveAllowPolicy;
  let shown = 'Disabled: every source queue may use this queue as its dead-letter queue.';
  if (text) {
    try {
      const p = JSON.parse(text);
      shown = { allowAll: 'Allow all', denyAll: 'Deny all', byQueue: 'By queue: ' + (p.sourceQueueArns || []).join(', ') }[p.redrivePermission] || text;
    } catch (e) {
      shown = text;
    }
  }
  body.replaceChildren(h('section', { class: 'panel' }, h('h2', {}, 'Redrive allow policy'), h('p', {}, shown), h('p', { class: 'muted' }, 'Choose Edit to change it.')));
}

async function tabTags(body, q, all, url, state) {
  if (state.drawn) return; // a form being typed in is not redrawn by the refresh
  state.drawn = true;
  const list = h('tbody');
  const key = h('input', { type: 'text', 'aria-label': 'Tag key', placeholder: 'Key' });
  const value = h('input', { type: 'text', 'aria-label': 'Tag value', placeholder: 'Value' });
  async function load() {
    const out = await sqs('ListQueueTags', { QueueUrl: url });
    const tags = Object.entries(out.Tags || {});
    list.replaceChildren(
      ...(tags.length
        ? tags.map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, v), h('td', {}, h('button', { type: 'button', class: 'link', onclick: (e) => act(e.target, async () => { await sqs('UntagQueue', { QueueUrl: url, TagKeys: [k] }); await load(); }) }, 'Remove'))))
        : [h('tr', {}, h('td', { colspan: 3, class: 'empty' }, 'No tags.'))]),
    );
  }
  const add = h('button', { type: 'submit' }, 'Add tag');
  body.replaceChildren(
    h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Tagging'),
      h('div', { class: 'table-wrap' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Key'), h('th', {}, 'Value'), h('th', {}, ''))), list)),
      h('form', { class: 'row', novalidate: true, onsubmit: (e) => { e.preventDefault(); act(add, async () => { await sqs('TagQueue', { QueueUrl: url, Tags: { [key.value]: value.value } }); key.value = ''; value.value = ''; await load(); }); } }, h('div', { class: 'field' }, key), h('div', { class: 'field' }, value), h('div', { class: 'field' }, add)),
    ),
  );
  await load();
}

// ---------------------------------------------------------------- Monitoring: depth over the last hour

async function tabMonitoring(body, q, all, url) {
  const out = await ext('GetQueueDepthHistory', { QueueUrl: url });
  const samples = out.Samples || [];
  const isDlq = q.sources.length > 0;
  const W = 720;
  const H = 220;
  const pad = { l: 44, r: 10, t: 10, b: 26 };
  const t1 = samples.length ? samples[samples.length - 1].Timestamp : 0;
  const t0 = t1 - 3600 * 1000;
  const series = [
    ['available', 'Messages available', (s) => s.ApproximateNumberOfMessages, '#0073bb'],
    ['inflight', 'Messages in flight', (s) => s.ApproximateNumberOfMessagesNotVisible, '#ec7211'],
  ];
  if (isDlq) series.push(['arrivals', 'Dead-letter arrivals (per 10 s)', (s) => s.DeadLetterArrivals, '#d13212']);
  const peak = Math.max(1, ...samples.flatMap((s) => series.map(([, , f]) => f(s))));
  // Four gridlines a whole 1, 2 or 5 × 10^k apart, so no two labels read the same.
  const magnitude = 10 ** Math.floor(Math.log10(peak / 4 || 1));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s * 4 >= peak));
  const max = step * 4;
  const x = (t) => pad.l + ((t - t0) / (t1 - t0 || 1)) * (W - pad.l - pad.r);
  const y = (v) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  const summary = series.map(([, label, f]) => `${label}: ${num(samples.length ? f(samples[samples.length - 1]) : 0)} now`).join('; ');
  svg.setAttribute('aria-label', `Queue depth over the last hour. ${summary}.`);
  const el = (tag, attrs) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    svg.append(e);
    return e;
  };
  for (let i = 0; i <= 4; i++) {
    const v = step * i;
    el('line', { x1: pad.l, x2: W - pad.r, y1: y(v), y2: y(v), stroke: '#eaeded' });
    el('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#5f6b7a' }).textContent = num(v);
  }
  for (let m = 0; m <= 60; m += 15) {
    const t = t0 + m * 60000;
    el('text', { x: x(t), y: H - 8, 'text-anchor': 'middle', 'font-size': 11, fill: '#5f6b7a' }).textContent = m === 60 ? 'now' : `-${60 - m} min`;
  }
  for (const [, , f, colour] of series) {
    const pts = samples.filter((s) => s.Timestamp >= t0).map((s) => `${x(s.Timestamp).toFixed(1)},${y(f(s)).toFixed(1)}`);
    // Only the time sampled is drawn: a server started a minute ago has no hour behind it.
    if (pts.length === 1) {
      const [cx, cy] = pts[0].split(',');
      el('circle', { cx, cy, r: 3, fill: colour });
    } else {
      el('polyline', { points: pts.join(' '), fill: 'none', stroke: colour, 'stroke-width': 2 });
    }
  }
  body.replaceChildren(
    h(
      'section',
      { class: 'panel chart' },
      h('h2', {}, 'Monitoring'),
      h('p', { class: 'muted' }, `Depth over the last hour, sampled every ${out.IntervalSeconds} s by the server (kept in memory since it started).`),
      h('div', { class: 'legend' }, series.map(([k, label]) => h('span', {}, h('span', { class: 'key ' + k }), label))),
      svg,
    ),
  );
}

// ---------------------------------------------------------------- filters (Redrive_v1's Filter)

// The filter last applied on a queue's Peek messages tab ("the current filter"), kept per
// queue for the session: Start DLQ redrive offers to move only what it takes.
const filterKey = (qname) => 'redrive-filter:' + qname;
function currentFilter(qname) {
  try {
    return JSON.parse(sessionStorage.getItem(filterKey(qname)) || 'null');
  } catch (e) {
    return null;
  }
}
const isEmptyFilter = (f) => !f || Object.keys(f).length === 0;

/** A filter in words, as the history and Start DLQ redrive show it. */
function filterSummary(f) {
  if (isEmptyFilter(f)) return 'All messages';
  const parts = [];
  if (f.DeadLetterQueueSourceArn) parts.push(`from ${nameOfArn(f.DeadLetterQueueSourceArn)}`);
  if (f.BodyContains !== undefined) parts.push(`body contains "${f.BodyContains}"`);
  for (const t of f.MessageAttributes || []) parts.push(t.Exists ? `attribute ${t.Name} exists` : `attribute ${t.Name} = ${t.Equals}`);
  for (const t of f.BodyJson || []) parts.push(`${t.Path} = ${JSON.stringify(t.Equals)}`);
  if (f.SentAfter !== undefined) parts.push(`sent from ${when(f.SentAfter)}`);
  if (f.SentBefore !== undefined) parts.push(`sent before ${when(f.SentBefore)}`);
  if (f.DeadLetteredAfter !== undefined) parts.push(`dead-lettered from ${when(f.DeadLetteredAfter)}`);
  if (f.DeadLetteredBefore !== undefined) parts.push(`dead-lettered before ${when(f.DeadLetteredBefore)}`);
  const ids = f.MessageIds || [];
  if (ids.length === 1) parts.push(`message ${ids[0]}`);
  else if (ids.length) parts.push(`${num(ids.length)} chosen messages`);
  return parts.join('; ');
}

/** A whole number typed in a field, or what was typed (the server refuses it in its words). */
function intOrRaw(input) {
  const v = input.value.trim();
  if (v === '') return undefined;
  return /^-?\d+$/.test(v) ? Number(v) : v;
}

/** Epoch ms of a datetime-local field (the browser's time zone), or what was typed. */
function timeOrRaw(input) {
  const v = input.value.trim();
  if (v === '') return undefined;
  const t = new Date(v).getTime();
  return isNaN(t) ? v : t;
}
function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 19);
}

/** The filter form of the Peek messages tab; `read()` gives the Filter it describes. */
function filterForm(q, all, saved) {
  const s = (saved && saved.form) || {};
  const sources = q.sources.map((name) => all.list.find((x) => x.name === name)).filter(Boolean);
  const source = sources.length
    ? h('select', { name: 'source' }, h('option', { value: '' }, 'Any source queue'), sources.map((x) => h('option', { value: x.attrs.QueueArn, selected: s.source === x.attrs.QueueArn }, x.name)))
    : null;
  const text = (name, value, extra) => h('input', { type: 'text', name, value: value || '', autocomplete: 'off', ...extra });
  const bodyContains = h('input', { type: 'search', name: 'body-contains', placeholder: 'Body contains…', value: s.bodyContains || '' });
  const attrName = text('attribute-name', s.attrName);
  const attrTest = h('select', { name: 'attribute-test' }, h('option', { value: 'equals', selected: s.attrTest !== 'exists' }, 'equals'), h('option', { value: 'exists', selected: s.attrTest === 'exists' }, 'exists'));
  const attrValue = text('attribute-value', s.attrValue);
  const jsonPath = text('json-path', s.jsonPath, { placeholder: '/order/kind' });
  const jsonValue = text('json-value', s.jsonValue, { placeholder: '"refund", 42, true' });
  const time = (name) => h('input', { type: 'datetime-local', name, step: '1', value: s[name] || '' });
  const times = { sentAfter: time('sentAfter'), sentBefore: time('sentBefore'), deadAfter: time('deadAfter'), deadBefore: time('deadBefore') };
  const ids = h('textarea', { name: 'message-ids', rows: 2, placeholder: 'One MessageId a line' }, s.ids || '');
  attrTest.addEventListener('change', () => {
    attrValue.disabled = attrTest.value === 'exists';
  });
  attrValue.disabled = attrTest.value === 'exists';
  const fields = h(
    'div',
    { class: 'filters' },
    h('div', { class: 'row' }, source ? field('Source queue', source) : null, field('Body contains', bodyContains)),
    h('div', { class: 'row' }, field('Message attribute', attrName), field('Attribute test', attrTest), field('Attribute equals', attrValue)),
    h('div', { class: 'row' }, field('JSON path', jsonPath), field('JSON value equals', jsonValue)),
    h('div', { class: 'row' }, field('Sent from', times.sentAfter), field('Sent before', times.sentBefore), field('Dead-lettered from', times.deadAfter), field('Dead-lettered before', times.deadBefore)),
    field('Message IDs', ids, 'One a line, or tick Choose on the messages below.'),
    h(
      'p',
      { class: 'hint' },
      'A message must pass every test given. An attribute equals the text of a String or Number, the base64 of a Binary. ',
      'The JSON path is a JSON Pointer (/order/kind) into a JSON body, its value a JSON value ("refund", 42, true; other text is taken as a string). ',
      'Times are in this browser\u2019s time zone.',
    ),
  );
  function values() {
    return {
      source: source ? source.value : '',
      bodyContains: bodyContains.value,
      attrName: attrName.value,
      attrTest: attrTest.value,
      attrValue: attrValue.value,
      jsonPath: jsonPath.value,
      jsonValue: jsonValue.value,
      ids: ids.value,
      ...Object.fromEntries(Object.entries(times).map(([k, input]) => [k, input.value])),
    };
  }
  function read() {
    const f = {};
    if (source && source.value) f.DeadLetterQueueSourceArn = source.value;
    if (bodyContains.value !== '') f.BodyContains = bodyContains.value;
    const name = attrName.value.trim();
    if (name) f.MessageAttributes = [attrTest.value === 'exists' ? { Name: name, Exists: true } : { Name: name, Equals: attrValue.value }];
    const path = jsonPath.value.trim();
    if (path) {
      let equals = jsonValue.value.trim();
      try {
        equals = JSON.parse(equals);
      } catch (e) {
        /* not JSON: the text itself, as a string */
      }
      f.BodyJson = [{ Path: path, Equals: equals }];
    }
    for (const [key, input] of [['SentAfter', times.sentAfter], ['SentBefore', times.sentBefore], ['DeadLetteredAfter', times.deadAfter], ['DeadLetteredBefore', times.deadBefore]]) {
      const t = timeOrRaw(input);
      if (t !== undefined) f[key] = t;
    }
    const chosen = ids.value.split(/[\s,]+/).filter(Boolean);
    if (chosen.length) f.MessageIds = chosen;
    return f;
  }
  function clear() {
    for (const el of fields.querySelectorAll('input, textarea')) el.value = '';
    for (const el of fields.querySelectorAll('select')) el.selectedIndex = 0;
    attrValue.disabled = false;
  }
  /** Tick or untick a message as chosen: its id joins or leaves the Message IDs field. */
  function choose(id, on) {
    const list = ids.value.split(/[\s,]+/).filter(Boolean).filter((x) => x !== id);
    if (on) list.push(id);
    ids.value = list.join('\n');
  }
  const chosen = (id) => ids.value.split(/[\s,]+/).includes(id);
  return { fields, read, values, clear, choose, chosen };
}

// ---------------------------------------------------------------- Peek messages

function prettyBody(text) {
  try {
    const v = JSON.parse(text);
    if (v !== null && typeof v === 'object') return JSON.stringify(v, null, 2);
  } catch (e) {
    /* not JSON: shown as sent */
  }
  return text;
}

function messageCard(m, extra, actions) {
  const a = m.Attributes || {};
  const attrs = Object.entries(m.MessageAttributes || {});
  return h(
    'article',
    { class: 'message', 'data-message-id': m.MessageId },
    h(
      'div',
      { class: 'meta' },
      h('span', {}, 'ID ', h('b', {}, m.MessageId)),
      h('span', {}, 'Sent ', h('b', {}, when(a.SentTimestamp))),
      h('span', {}, 'Receive count ', h('b', { 'data-receive-count': '' }, a.ApproximateReceiveCount)),
      m.State ? h('span', {}, 'State ', h('b', { 'data-state': '' }, m.State)) : null,
      a.MessageGroupId ? h('span', {}, 'Group ', h('b', {}, a.MessageGroupId)) : null,
      a.DeadLetterQueueSourceArn ? h('span', {}, 'From ', h('b', {}, nameOfArn(a.DeadLetterQueueSourceArn))) : null,
      m.DeadLetteredTimestamp ? h('span', {}, 'Dead-lettered ', h('b', { 'data-dead-lettered': '' }, when(m.DeadLetteredTimestamp))) : null,
      m.RedriveCount !== undefined ? h('span', {}, 'Redrive count ', h('b', { 'data-redrive-count': '' }, m.RedriveCount)) : null,
      extra,
    ),
    h('pre', { class: 'body', 'data-body': '' }, prettyBody(m.Body)),
    attrs.length ? h('div', { class: 'muted' }, 'Message attributes: ', attrs.map(([k, v], i) => `${i ? ', ' : ''}${k} (${v.DataType}) = ${v.StringValue ?? v.BinaryValue}`)) : null,
    actions ? h('div', { class: 'actions message-actions' }, actions) : null,
    h('details', {}, h('summary', {}, 'All attributes'), h('pre', { class: 'body' }, JSON.stringify(a, null, 2))),
  );
}

function tabPeek(body, q, all, url, state) {
  if (state.drawn) return;
  state.drawn = true;
  const isDlq = q.sources.length > 0;
  const saved = currentFilter(q.name) && JSON.parse(sessionStorage.getItem(filterKey(q.name) + ':form') || 'null');
  const form = filterForm(q, all, saved);
  const list = h('div', { id: 'peek-results', 'aria-live': 'polite' });
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const status = h('p', { class: 'muted', id: 'peek-status' });
  const countLine = h('p', { id: 'peek-count' });
  let token = null;
  let shown = 0;
  let applied = {};

  /** Apply what the form says: it becomes the queue's current filter. */
  function apply() {
    applied = form.read();
    if (isEmptyFilter(applied)) {
      sessionStorage.removeItem(filterKey(q.name));
      sessionStorage.removeItem(filterKey(q.name) + ':form');
    } else {
      sessionStorage.setItem(filterKey(q.name), JSON.stringify(applied));
      sessionStorage.setItem(filterKey(q.name) + ':form', JSON.stringify({ form: form.values() }));
    }
    return applied;
  }
  const filterInput = () => (isEmptyFilter(applied) ? undefined : applied);

  async function count() {
    const out = await ext('CountMessages', { QueueUrl: url, Filter: filterInput() });
    const n = Number(out.Count || 0);
    countLine.textContent = isEmptyFilter(applied)
      ? `${num(n)} message${n === 1 ? '' : 's'} in the queue.`
      : `${num(n)} message${n === 1 ? ' matches' : 's match'} the filter (${num(out.Examined)} looked at).`;
  }

  async function load(reset) {
    if (reset) {
      token = null;
      shown = 0;
      list.replaceChildren();
      // Until the answer comes, the count shown must not be the last peek's.
      status.textContent = 'Peeking…';
      countLine.textContent = '';
    }
    const [out] = await Promise.all([ext('PeekMessages', { QueueUrl: url, MaxResults: 50, NextToken: token || undefined, Filter: filterInput() }), reset ? count() : null]);
    for (const m of out.Messages || []) list.append(card(m));
    shown += (out.Messages || []).length;
    token = out.NextToken || null;
    more.hidden = !token;
    status.textContent = `${num(shown)} message${shown === 1 ? '' : 's'} shown${token ? ' — more may follow' : ''}.`;
  }
  const reload = () => load(true);

  function card(m) {
    const id = m.MessageId;
    const chooser = h('input', { type: 'checkbox', 'aria-label': `Choose message ${id}`, checked: form.chosen(id), onchange: (e) => form.choose(id, e.target.checked) });
    const edit = h('button', { type: 'button', 'aria-label': `Edit message ${id}`, onclick: () => editMessage(url, m, reload) }, 'Edit');
    const del = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete message ${id}`, onclick: () => deleteMessage(del, url, q.name, id, reload) }, 'Delete');
    const now = isDlq && m.Attributes && m.Attributes.DeadLetterQueueSourceArn
      ? h('button', { type: 'button', 'aria-label': `Redrive message ${id} now`, onclick: () => redriveNow(now, q.attrs.QueueArn, m, reload) }, 'Redrive now')
      : null;
    return messageCard(m, h('label', { class: 'choice inline' }, chooser, 'Choose'), [edit, now, del]);
  }

  const peekBtn = h('button', { type: 'submit', class: 'primary' }, 'Peek');
  // Export applies the filter too, so the list shows what the file holds.
  const exportBtn = h('button', { type: 'button', onclick: () => act(exportBtn, async () => (clearFlash(), apply(), await reload(), await exportQueue(url, q.name, applied, status))) }, 'Export');
  const clearBtn = h(
    'button',
    {
      type: 'button',
      onclick: () =>
        act(clearBtn, async () => {
          clearFlash();
          form.clear();
          apply();
          await reload();
        }),
    },
    'Clear filter',
  );
  more.addEventListener('click', () => act(more, () => load(false)));
  body.replaceChildren(
    h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Peek messages'),
      h('p', { class: 'note' }, 'Peek shows messages without receiving them: receive counts, visibility and dead-letter moves are not touched. 50 at a time, oldest first.'),
      h(
        'form',
        { novalidate: true, 'aria-label': 'Filter', onsubmit: (e) => (e.preventDefault(), act(peekBtn, () => (clearFlash(), apply(), reload()))) },
        form.fields,
        h(
          'div',
          { class: 'actions' },
          peekBtn,
          clearBtn,
          exportBtn,
          isDlq ? h('a', { class: 'button', href: queueLink(q.name, '/redrive/filtered') }, 'Redrive matching messages') : null,
        ),
      ),
      countLine,
      status,
      list,
      more,
    ),
  );
  applied = form.read();
}

/** The edit dialog: a message's new body and attributes, through UpdateMessage. */
function editMessage(url, m, done) {
  const bodyInput = h('textarea', { name: 'body', rows: 8 }, m.Body);
  const rows = h('div', {});
  const addRow = (name, type, value) => {
    const typeSelect = h('select', { 'aria-label': 'Attribute type', 'data-attr': 'type' }, ['String', 'Number', 'Binary'].map((t) => h('option', { selected: t === type }, t)));
    if (type && !['String', 'Number', 'Binary'].includes(type)) typeSelect.append(h('option', { selected: true }, type));
    const row = h(
      'div',
      { class: 'attr-row' },
      h('input', { type: 'text', 'aria-label': 'Attribute name', placeholder: 'Name', 'data-attr': 'name', value: name || '' }),
      typeSelect,
      h('input', { type: 'text', 'aria-label': 'Attribute value', placeholder: 'Value (Binary: base64)', 'data-attr': 'value', value: value || '' }),
      h('button', { type: 'button', class: 'link', onclick: () => row.remove() }, 'Remove'),
    );
    rows.append(row);
  };
  for (const [k, v] of Object.entries(m.MessageAttributes || {})) addRow(k, v.DataType, v.StringValue ?? v.BinaryValue);
  const readAttributes = () => {
    const out = {};
    for (const row of rows.children) {
      const name = row.querySelector('[data-attr=name]').value;
      const type = row.querySelector('[data-attr=type]').value;
      const value = row.querySelector('[data-attr=value]').value;
      out[name] = type.startsWith('Binary') ? { DataType: type, BinaryValue: value } : { DataType: type, StringValue: value };
    }
    return out;
  };
  const before = JSON.stringify(readAttributes());
  const error = h('p', { class: 'flash error', role: 'alert' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const dlg = h(
    'dialog',
    { 'aria-labelledby': 'edit-title', class: 'wide' },
    h(
      'form',
      {
        novalidate: true,
        onsubmit: (e) => {
          e.preventDefault();
          save.disabled = true;
          error.textContent = '';
          const input = { QueueUrl: url, MessageId: m.MessageId, Body: bodyInput.value };
          const attributes = readAttributes();
          if (JSON.stringify(attributes) !== before) input.MessageAttributes = attributes;
          ext('UpdateMessage', input)
            .then(() => {
              close();
              flash('success', `Message ${m.MessageId} updated.`);
              return done();
            })
            .catch((err) => {
              error.textContent = err instanceof ApiFailure ? err.toString() : String(err);
            })
            .finally(() => {
              save.disabled = false;
            });
        },
      },
      h('h2', { id: 'edit-title' }, 'Edit message'),
      h('p', { class: 'muted' }, `${m.MessageId} keeps its ID, its place in the queue, its counts and where it came from.`),
      field('Message body', bodyInput),
      h('fieldset', {}, h('legend', {}, 'Message attributes'), rows, h('button', { type: 'button', onclick: () => addRow('', 'String', '') }, 'Add attribute')),
      error,
      h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => close() }, 'Cancel'), save),
    ),
  );
  function close() {
    dlg.close();
    dlg.remove();
  }
  dlg.addEventListener('cancel', () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  bodyInput.focus();
}

async function deleteMessage(button, url, qname, id, done) {
  if (!(await confirmDialog(`Delete message ${id}?`, `The message is deleted from ${qname}. This cannot be undone.`, null, 'Delete'))) return;
  await act(button, async () => {
    const out = await ext('DeleteMessages', { QueueUrl: url, Filter: { MessageIds: [id] } });
    flash('success', out.Deleted ? `Message ${id} deleted.` : `Message ${id} was no longer in ${qname}.`);
    await done();
  });
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Redrive one message now: a StartRedrive whose filter names it; waits briefly to say how it went. */
async function redriveNow(button, dlqArn, m, done) {
  await act(button, async () => {
    const id = m.MessageId;
    const source = nameOfArn(m.Attributes.DeadLetterQueueSourceArn);
    const { TaskHandle } = await ext('StartRedrive', { SourceArn: dlqArn, Filter: { MessageIds: [id] } });
    let task = null;
    for (let i = 0; i < 20; i++) {
      task = await ext('DescribeRedrive', { TaskHandle });
      if (task.Status !== 'RUNNING' && task.Status !== 'CANCELLING') break;
      await pause(250);
    }
    if (task.Status === 'FAILED') throw new ApiFailure('', `The redrive of message ${id} failed: ${task.FailureReason}`);
    if (task.Status !== 'COMPLETED') flash('success', `Redrive of message ${id} to ${source} started; see the DLQ redrive tab.`);
    else if (Number(task.ApproximateNumberOfMessagesMoved) > 0) flash('success', `Message ${id} redriven to ${source}.`);
    else if (Number(task.ApproximateNumberOfMessagesSkipped) > 0) throw new ApiFailure('', `Message ${id} stays in the DLQ: the loop guard leaves it (redriven ${m.RedriveCount} times already).`);
    else throw new ApiFailure('', `Message ${id} was not moved (no longer in the queue, or in flight).`);
    await done();
  });
}

/** ExportMessages, page after page, saved by the browser as a JSON Lines file. */
async function exportQueue(url, qname, filter, status) {
  const shown = status.textContent;
  const lines = [];
  let token;
  do {
    const out = await ext('ExportMessages', { QueueUrl: url, MaxResults: 1000, NextToken: token, Filter: isEmptyFilter(filter) ? undefined : filter });
    for (const m of out.Messages || []) lines.push(JSON.stringify(m) + '\n');
    token = out.NextToken;
    status.textContent = `Exporting… ${num(lines.length)} messages so far.`;
  } while (token);
  const file = `${qname}-${new Date().toISOString().slice(0, 19).replace(/:/g, '-')}.jsonl`;
  const href = URL.createObjectURL(new Blob(lines, { type: 'application/x-ndjson' }));
  const link = h('a', { href, download: file, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
  status.textContent = shown;
  flash('success', `Exported ${num(lines.length)} message${lines.length === 1 ? '' : 's'} to ${file}.`);
}

// ---------------------------------------------------------------- DLQ redrive status

const STATUS_WORDS = { RUNNING: 'Running', COMPLETED: 'Successfully completed', CANCELLING: 'Cancelling', CANCELLED: 'Cancelled', FAILED: 'Failed' };
const STAGE_WORDS = {
  CANARY: 'Canary: moving the first messages',
  CANARY_WATCH: 'Watching the canary: waiting for consumers to delete it',
  MOVING: 'Moving',
  WATCHING: 'Watching: everything moved, watching for messages that come back',
};
const rateSeen = new Map(); // task handle or start time → last (moved, browser time)

function taskView(t) {
  const toMove = Number(t.ApproximateNumberOfMessagesToMove || 0);
  const moved = Number(t.ApproximateNumberOfMessagesMoved || 0);
  const pct = toMove > 0 ? Math.min(100, Math.floor((moved / toMove) * 100)) : t.Status === 'COMPLETED' ? 100 : 0;
  const key = String(t.StartedTimestamp);
  const now = Date.now();
  const prev = rateSeen.get(key);
  let rate = prev ? prev.rate : null;
  if (prev && now - prev.at >= 900 && t.Status === 'RUNNING') rate = ((moved - prev.moved) * 1000) / (now - prev.at);
  if (!prev || now - prev.at >= 900) rateSeen.set(key, { moved, at: now, rate });
  const elapsed = Math.max(0, now - Number(t.StartedTimestamp));
  const avg = elapsed > 0 ? (moved * 1000) / elapsed : 0;
  const cap = Number(t.MaxNumberOfMessagesPerSecond || 0);
  // A burst at the start (a rate cap allows a second's worth at once) is not the pace ahead.
  let speed = rate !== null && rate > 0 ? rate : avg;
  if (cap > 0) speed = Math.min(speed, cap);
  const left = t.Status === 'RUNNING' && speed > 0 ? ((toMove - moved) / speed) * 1000 : null;
  return { toMove, moved, pct, rate, elapsed, left, word: STATUS_WORDS[t.Status] || t.Status };
}

/** A key-value pair across the whole width (a sentence, not a figure). */
function wide(el) {
  el.className = 'wide';
  return el;
}
const canaryWords = (c) => `${num(c.Size)} messages first, ${duration(c.TimeoutSeconds * 1000)} for consumers to delete them`;
function haltWords(h_) {
  const limits = [h_.MaxPercent !== undefined ? `more than ${h_.MaxPercent} %` : null, h_.MaxCount !== undefined ? `more than ${num(h_.MaxCount)} messages` : null].filter(Boolean);
  return `when ${limits.join(' or ')} come back; watching ${duration(h_.WindowSeconds * 1000)} after the last move`;
}

async function tabRedrive(body, q) {
  const arn = q.attrs.QueueArn;
  let out;
  try {
    // Redrive's history: every task of this DLQ (SDK- and CLI-started ones too), newest first.
    out = await ext('ListRedrives', { SourceArn: arn, MaxResults: 20 });
  } catch (e) {
    body.replaceChildren(h('section', { class: 'panel' }, h('h2', {}, 'Dead-letter queue redrive status'), h('p', {}, String(e))));
    return;
  }
  const tasks = out.Tasks || [];
  const latest = tasks[0];
  const panel = h('section', { class: 'panel', id: 'redrive-status', 'aria-labelledby': 'redrive-title' });
  const head = h('div', { class: 'panel-head' }, h('h2', { id: 'redrive-title' }, 'Dead-letter queue redrive status'));
  panel.append(head);
  if (!latest) {
    panel.append(h('p', {}, q.sources.length ? 'No redrive yet. Choose Start DLQ redrive to move messages back.' : 'This queue is not a dead-letter queue of any source queue.'));
    if (q.sources.length) head.append(h('a', { class: 'button primary', href: queueLink(q.name, '/redrive') }, 'Start DLQ redrive'));
  } else {
    const v = taskView(latest);
    const refreshBtn = h('button', { type: 'button', onclick: () => render() }, 'Refresh');
    const cancelBtn =
      latest.Status === 'RUNNING'
        ? h(
            'button',
            {
              type: 'button',
              class: 'danger',
              onclick: (e) =>
                act(e.target, async () => {
                  await sqs('CancelMessageMoveTask', { TaskHandle: latest.TaskHandle });
                  flash('success', 'Cancelling the DLQ redrive.');
                  keepFlash = true;
                  render();
                }),
            },
            'Cancel DLQ redrive',
          )
        : null;
    head.append(h('div', { class: 'actions' }, refreshBtn, cancelBtn));
    const stage = latest.Status === 'RUNNING' && latest.Stage ? STAGE_WORDS[latest.Stage] || latest.Stage : null;
    panel.append(
      h(
        'dl',
        { class: 'kv' },
        h('div', {}, h('dt', {}, 'Status'), h('dd', { class: 'status-' + v.word.split(' ')[0], 'data-status': '' }, v.word)),
        stage ? h('div', {}, h('dt', {}, 'Stage'), h('dd', { 'data-stage': latest.Stage }, stage)) : null,
        h('div', {}, h('dt', {}, 'Percentage processed'), h('dd', { 'data-percent': '' }, `${v.pct}%`)),
        kv('Messages moved', `${num(v.moved)} of ${num(v.toMove)}`),
        kv('Failed again', num(latest.ApproximateNumberOfMessagesFailedAgain), 'failed-again'),
        kv('Skipped by the loop guard', num(latest.ApproximateNumberOfMessagesSkipped), 'skipped'),
        kv('Current rate', v.rate === null ? '—' : `${v.rate.toFixed(1)} messages/s`),
        kv('Elapsed', duration(v.elapsed)),
        kv('Estimated time left', latest.Status === 'RUNNING' ? duration(v.left) : '—'),
        kv('Destination', latest.DestinationArn ? nameOfArn(latest.DestinationArn) : 'Source queue(s)'),
        kv('Velocity', latest.MaxNumberOfMessagesPerSecond ? `Custom max velocity: ${latest.MaxNumberOfMessagesPerSecond} messages/s` : 'System optimized'),
        kv('Messages', filterSummary(latest.Filter), 'filter'),
        latest.Canary ? kv('Canary', canaryWords(latest.Canary)) : null,
        latest.Halt ? kv('Halt', haltWords(latest.Halt)) : null,
        latest.FailureReason ? wide(kv('Failure reason', latest.FailureReason, 'failure-reason')) : null,
      ),
      h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(v.pct), 'aria-label': 'Percentage processed' }, progressFill(v.pct)),
    );
  }
  const history = h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'Redrive history'),
    tasks.length
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { id: 'redrive-history' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                h('th', {}, 'Started'),
                h('th', { class: 'hide-narrow' }, 'Started by'),
                h('th', {}, 'Messages'),
                h('th', {}, 'Status'),
                h('th', { class: 'num' }, 'Moved'),
                h('th', { class: 'num' }, 'To move'),
                h('th', { class: 'num' }, 'Skipped'),
                h('th', { class: 'num' }, 'Failed again'),
                h('th', { class: 'hide-narrow' }, 'Destination'),
                h('th', { class: 'hide-narrow' }, 'Velocity'),
                h('th', {}, 'Failure reason'),
              ),
            ),
            h(
              'tbody',
              {},
              tasks.map((t) =>
                h(
                  'tr',
                  {},
                  h('td', {}, when(t.StartedTimestamp)),
                  h('td', { class: 'hide-narrow' }, t.StartedBy || '—'),
                  h('td', { 'data-col': 'filter' }, filterSummary(t.Filter), t.Canary ? h('div', { class: 'muted' }, `Canary of ${num(t.Canary.Size)}`) : null, t.Halt ? h('div', { class: 'muted' }, 'Halt on re-failure') : null),
                  h('td', { 'data-col': 'status' }, STATUS_WORDS[t.Status] || t.Status),
                  h('td', { class: 'num', 'data-col': 'moved' }, num(t.ApproximateNumberOfMessagesMoved)),
                  h('td', { class: 'num' }, num(t.ApproximateNumberOfMessagesToMove)),
                  h('td', { class: 'num', 'data-col': 'skipped' }, num(t.ApproximateNumberOfMessagesSkipped)),
                  h('td', { class: 'num', 'data-col': 'failed-again' }, num(t.ApproximateNumberOfMessagesFailedAgain)),
                  h('td', { class: 'hide-narrow' }, t.DestinationArn ? nameOfArn(t.DestinationArn) : 'Source queue(s)'),
                  h('td', { class: 'hide-narrow' }, t.MaxNumberOfMessagesPerSecond ? `${t.MaxNumberOfMessagesPerSecond}/s` : 'System optimized'),
                  h('td', {}, t.FailureReason || ''),
                ),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No redrive has run from this queue.'),
  );
  body.replaceChildren(panel, history);
}
function progressFill(pct) {
  const fill = h('span');
  fill.style.width = pct + '%';
  return fill;
}

// ---------------------------------------------------------------- Start DLQ redrive

async function viewStartRedrive(qname, filtered) {
  document.title = `Start DLQ redrive — ${qname} — Redrive`;
  const url = await queueUrlOf(qname);
  const [{ list }, sources] = await Promise.all([loadQueues(), sqs('ListDeadLetterSourceQueues', { QueueUrl: url, MaxResults: 1000 })]);
  const q = list.find((x) => x.name === qname);
  const fifo = q.attrs.FifoQueue === 'true';
  const sourceNames = (sources.queueUrls || sources.QueueUrls || []).map(nameOf);
  const destination = h(
    'select',
    { name: 'destination' },
    h('option', { value: '' }, 'Choose queue'),
    list.filter((x) => x.name !== qname && (x.attrs.FifoQueue === 'true') === fifo).map((x) => h('option', { value: x.attrs.QueueArn }, x.name)),
  );
  const destBox = h('div', { hidden: true }, field('Destination queue', destination, `A ${fifo ? 'FIFO' : 'standard'} queue, like ${qname}.`));
  const rate = h('input', { type: 'number', name: 'velocity', value: '10', inputmode: 'numeric' });
  const rateBox = h('div', { hidden: true }, field('Maximum messages per second', rate, 'Between 1 and 500.'));

  // Redrive's options, each off unless chosen, with the server's defaults filled in.
  const filter = currentFilter(qname);
  const onlyFiltered = h('input', { type: 'checkbox', name: 'only-filtered', checked: Boolean(filtered && filter), disabled: !filter });
  const filterBox = h(
    'fieldset',
    {},
    h('legend', {}, 'Messages to redrive'),
    h(
      'label',
      { class: 'choice' },
      onlyFiltered,
      h('span', {}, 'Only messages matching the current filter', h('span', { class: 'hint', id: 'current-filter' }, filter ? filterSummary(filter) + '. The rest stay in the dead-letter queue, untouched.' : 'No filter: set one in the queue\u2019s Peek messages tab.')),
    ),
  );
  const num_ = (name, value) => h('input', { type: 'number', name, value: value ?? '', inputmode: 'numeric' });
  const canaryOn = h('input', { type: 'checkbox', name: 'canary' });
  const canarySize = num_('canary-size', '10');
  const canaryTimeout = num_('canary-timeout', '300');
  const canaryFields = h('div', { class: 'row', hidden: true }, field('Canary size', canarySize, 'Messages, 1 to 1,000.'), field('Canary timeout', canaryTimeout, 'Seconds, 1 to 43,200.'));
  canaryOn.addEventListener('change', () => (canaryFields.hidden = !canaryOn.checked));
  const haltOn = h('input', { type: 'checkbox', name: 'halt' });
  const haltPercent = num_('halt-percent', '');
  const haltCount = num_('halt-count', '');
  const haltWindow = num_('halt-window', '300');
  const haltFields = h(
    'div',
    { class: 'row', hidden: true },
    field('Halt above percent', haltPercent, '% of the moved messages, 0 to 100.'),
    field('Halt above count', haltCount, 'Messages; give this, the percent, or both.'),
    field('Watch window', haltWindow, 'Seconds to keep watching after the last move.'),
  );
  haltOn.addEventListener('change', () => (haltFields.hidden = !haltOn.checked));
  const maxRedrives = num_('max-redrives', '');
  const safety = h(
    'fieldset',
    {},
    h('legend', {}, 'Safety'),
    h('label', { class: 'choice' }, canaryOn, h('span', {}, 'Canary', h('span', { class: 'hint' }, 'Move a few messages first; go on only once consumers have deleted them all. One back in the DLQ, or the timeout, stops the redrive.'))),
    canaryFields,
    h('label', { class: 'choice' }, haltOn, h('span', {}, 'Halt on re-failure', h('span', { class: 'hint' }, 'Stop when too many of the moved messages come back to the DLQ.'))),
    haltFields,
    field('Maximum redrives', maxRedrives, 'The loop guard: a message already redriven this many times stays in the DLQ, counted as skipped. Empty: the DLQ\u2019s tag redrive:max-redrives, else the server\u2019s --max-redrives (10 unless set).'),
  );

  const preview = h('section', { class: 'panel preview', id: 'dry-run', hidden: true, 'aria-live': 'polite' });
  const previewBtn = h('button', { type: 'button', onclick: () => act(previewBtn, dryRun) }, 'Preview (dry run)');
  const form = h(
    'form',
    { novalidate: true, onsubmit: (e) => (e.preventDefault(), submit()) },
    h('div', { class: 'crumbs' }, h('a', { href: '#/queues' }, 'Queues'), ' › ', h('a', { href: queueLink(qname) }, qname), ' › Start DLQ redrive'),
    h('h1', {}, 'Start DLQ redrive'),
    h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Redrive configuration'),
      h('p', {}, `Messages available in ${qname}: `, h('b', {}, num(q.attrs.ApproximateNumberOfMessages))),
      radios('redrive-to', 'Destination', [['source', 'Redrive to source queue(s)', sourceNames.length ? 'Each message goes back to the queue it came from: ' + sourceNames.join(', ') + '.' : 'Each message goes back to the queue it came from.'], ['custom', 'Redrive to a custom destination']], 'source', (e) => {
        destBox.hidden = e.target.value !== 'custom';
      }),
      destBox,
      radios('velocity', 'Velocity control settings', [['system', 'System optimized', 'Messages go back as fast as possible.'], ['custom', 'Custom max velocity', 'A maximum rate of messages per second, to spare the consumers of the destination.']], 'system', (e) => {
        rateBox.hidden = e.target.value !== 'custom';
      }),
      rateBox,
      filterBox,
      safety,
      h('p', { class: 'muted' }, 'You can inspect messages first in the queue\u2019s Peek messages tab (nothing is received), or preview what this redrive would move.'),
    ),
    h('div', { class: 'actions' }, h('a', { class: 'button', href: queueLink(qname) }, 'Cancel'), previewBtn, h('button', { type: 'submit', class: 'primary' }, 'DLQ redrive')),
    preview,
  );
  main.append(form);
  form.querySelector('input[name="redrive-to"]').focus();

  function input() {
    const out = { SourceArn: q.attrs.QueueArn };
    if (checkedValue(form, 'redrive-to') === 'custom') out.DestinationArn = destination.value;
    if (checkedValue(form, 'velocity') === 'custom') out.MaxNumberOfMessagesPerSecond = intOrRaw(rate) ?? '';
    if (onlyFiltered.checked && filter) out.Filter = filter;
    if (canaryOn.checked) out.Canary = { Size: intOrRaw(canarySize), TimeoutSeconds: intOrRaw(canaryTimeout) };
    if (haltOn.checked) out.Halt = { MaxPercent: intOrRaw(haltPercent), MaxCount: intOrRaw(haltCount), WindowSeconds: intOrRaw(haltWindow) };
    const guard = intOrRaw(maxRedrives);
    if (guard !== undefined) out.MaxRedrives = guard;
    return out;
  }
  async function dryRun() {
    const out = await ext('StartRedrive', { ...input(), DryRun: true });
    const n = Number(out.ApproximateNumberOfMessagesToMove || 0);
    const skipped = Number(out.ApproximateNumberOfMessagesSkipped || 0);
    const sample = out.Sample || [];
    preview.hidden = false;
    preview.replaceChildren(
      h('h2', {}, 'Preview'),
      h(
        'p',
        { id: 'dry-run-count' },
        h('b', {}, `${num(n)} message${n === 1 ? '' : 's'} would move`),
        skipped ? `; ${num(skipped)} would stay, left by the loop guard` : '',
        '. Nothing was moved.',
      ),
      sample.length ? h('h3', {}, `The first ${sample.length}`) : null,
      h('div', { id: 'dry-run-sample' }, sample.map((m) => messageCard(m))),
    );
  }
  async function submit() {
    await act(form.querySelector('button[type=submit]'), async () => {
      await ext('StartRedrive', input());
      flash('success', `DLQ redrive started for ${qname}.`);
      sessionStorage.setItem('redrive-tab:' + qname, 'redrive');
      go(queueLink(qname), true);
    });
  }
}

// ---------------------------------------------------------------- Send and receive messages

async function viewSendReceive(qname) {
  const gen = generation;
  document.title = `Send and receive messages — ${qname} — Redrive`;
  const url = await queueUrlOf(qname);
  const attrs = await attributesOf(url);
  const fifo = attrs.FifoQueue === 'true';
  const policy = redrivePolicy(attrs);
  const bodyInput = h('textarea', { name: 'body', rows: 5, placeholder: 'Enter message body' });
  const delay = h('input', { type: 'number', name: 'delay', value: fifo ? '' : attrs.DelaySeconds, inputmode: 'numeric' });
  const group = h('input', { type: 'text', name: 'group', autocomplete: 'off' });
  const dedup = h('input', { type: 'text', name: 'dedup', autocomplete: 'off' });
  const attrRows = h('div', {});
  const addAttr = () => {
    const row = h(
      'div',
      { class: 'attr-row' },
      h('input', { type: 'text', 'aria-label': 'Attribute name', placeholder: 'Name', 'data-attr': 'name' }),
      h('select', { 'aria-label': 'Attribute type', 'data-attr': 'type' }, h('option', {}, 'String'), h('option', {}, 'Number'), h('option', {}, 'Binary')),
      h('input', { type: 'text', 'aria-label': 'Attribute value', placeholder: 'Value', 'data-attr': 'value' }),
      h('button', { type: 'button', class: 'link', onclick: () => row.remove() }, 'Remove'),
    );
    attrRows.append(row);
  };
  const sendBtn = h('button', { type: 'submit', class: 'primary' }, 'Send message');
  const sendForm = h(
    'form',
    { novalidate: true, onsubmit: (e) => (e.preventDefault(), send()) },
    h('div', { class: 'panel-head' }, h('h2', {}, 'Send message'), h('div', { class: 'actions' }, h('button', { type: 'button', onclick: () => { bodyInput.value = ''; attrRows.replaceChildren(); } }, 'Clear content'), sendBtn)),
    field('Message body', bodyInput),
    fifo
      ? h('div', { class: 'grid2' }, field('Message group ID', group, 'Required for a FIFO queue.'), field('Message deduplication ID', dedup, attrs.ContentBasedDeduplication === 'true' ? 'Optional: content-based deduplication is on.' : 'Required unless content-based deduplication is on.'))
      : field('Delivery delay', delay, 'Seconds, 0 to 900.'),
    h('fieldset', {}, h('legend', {}, 'Message attributes'), attrRows, h('button', { type: 'button', onclick: addAttr }, 'Add attribute')),
  );

  const available = h('b', { id: 'available-count' }, num(attrs.ApproximateNumberOfMessages));
  const maxCount = h('input', { type: 'number', name: 'max', value: '10', inputmode: 'numeric' });
  const duration_ = h('input', { type: 'number', name: 'duration', value: '1', inputmode: 'numeric' });
  const visibility = h('input', { type: 'number', name: 'visibility', value: attrs.VisibilityTimeout, inputmode: 'numeric' });
  const pollBtn = h('button', { type: 'submit', class: 'primary' }, 'Poll for messages');
  const received = h('div', { id: 'received', 'aria-live': 'polite' });
  const pollStatus = h('p', { class: 'muted', id: 'poll-status' });
  const receiveForm = h(
    'form',
    { novalidate: true, onsubmit: (e) => (e.preventDefault(), poll()) },
    h('div', { class: 'panel-head' }, h('h2', {}, 'Receive messages'), h('div', { class: 'actions' }, pollBtn)),
    h('p', {}, 'Messages available: ', available, h('span', { class: 'muted' }, ` · in flight: `), h('span', { class: 'muted', id: 'inflight-count' }, num(attrs.ApproximateNumberOfMessagesNotVisible))),
    h(
      'p',
      { class: 'note' },
      'Polling receives the messages, as on AWS: each poll adds 1 to their receive count and counts toward Maximum receives',
      policy ? ` (${policy.maxReceiveCount} here: then they move to ${nameOfArn(policy.deadLetterTargetArn)})` : '',
      '. To look without receiving, use the queue\u2019s Peek messages tab.',
    ),
    h('div', { class: 'row' }, field('Maximum message count', maxCount, '1 to 10.'), field('Polling duration', duration_, 'Seconds, 0 to 20.'), field('Visibility timeout', visibility, 'Seconds the received messages stay hidden.')),
  );
  main.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/queues' }, 'Queues'), ' › ', h('a', { href: queueLink(qname) }, qname), ' › Send and receive messages'),
    h('h1', {}, 'Send and receive messages'),
    h('section', { class: 'panel' }, sendForm),
    h('section', { class: 'panel' }, receiveForm, pollStatus, received),
  );
  bodyInput.focus();

  async function send() {
    await act(sendBtn, async () => {
      const input = { QueueUrl: url, MessageBody: bodyInput.value };
      if (fifo) {
        if (group.value) input.MessageGroupId = group.value;
        if (dedup.value) input.MessageDeduplicationId = dedup.value;
      } else if (delay.value.trim() !== '') {
        input.DelaySeconds = Number(delay.value);
      }
      const attributes = {};
      for (const row of attrRows.children) {
        const name = row.querySelector('[data-attr=name]').value;
        const type = row.querySelector('[data-attr=type]').value;
        const value = row.querySelector('[data-attr=value]').value;
        attributes[name] = type === 'Binary' ? { DataType: type, BinaryValue: btoa(value) } : { DataType: type, StringValue: value };
      }
      if (Object.keys(attributes).length) input.MessageAttributes = attributes;
      const out = await sqs('SendMessage', input);
      flash('success', `Your message has been sent and is ready to be received. Message ID: ${out.MessageId}`);
      await counts();
    });
  }

  async function poll() {
    await act(pollBtn, async () => {
      const input = {
        QueueUrl: url,
        MaxNumberOfMessages: maxCount.value.trim() === '' ? undefined : Number(maxCount.value),
        WaitTimeSeconds: duration_.value.trim() === '' ? undefined : Number(duration_.value),
        VisibilityTimeout: visibility.value.trim() === '' ? undefined : Number(visibility.value),
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      };
      pollStatus.textContent = 'Polling…';
      const out = await sqs('ReceiveMessage', input);
      const messages = out.Messages || [];
      pollStatus.textContent = `Received ${messages.length} message${messages.length === 1 ? '' : 's'}.`;
      received.replaceChildren(
        ...messages.map((m) => {
          const del = h(
            'button',
            {
              type: 'button',
              class: 'link',
              onclick: () =>
                act(del, async () => {
                  await sqs('DeleteMessage', { QueueUrl: url, ReceiptHandle: m.ReceiptHandle });
                  card.remove();
                  flash('success', `Message ${m.MessageId} deleted.`);
                  await counts();
                }),
            },
            'Delete',
          );
          const card = messageCard(m, del);
          return card;
        }),
      );
      await counts();
    });
  }

  async function counts() {
    const a = await attributesOf(url);
    available.textContent = num(a.ApproximateNumberOfMessages);
    document.getElementById('inflight-count').textContent = num(a.ApproximateNumberOfMessagesNotVisible);
  }
  await every(gen, REFRESH_MS, counts);
}

// ---------------------------------------------------------------- signing in

/** POST to a console endpoint other than the API (sign-in, sign-out), with the page's token. */
async function post(path, input) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Redrive-Console-Token': TOKEN },
    body: JSON.stringify(input || {}),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const code = (data.__type || '').split('#').pop().replace(/Exception$/, '') || String(res.status);
    throw new ApiFailure(code, data.message || res.statusText);
  }
  return data;
}

function signInView() {
  document.title = 'Sign in · Redrive console';
  const key = h('input', { type: 'text', name: 'access-key', autocomplete: 'username', required: true, spellcheck: 'false' });
  const secret = h('input', { type: 'password', name: 'secret', autocomplete: 'current-password', required: true });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'signin',
      onsubmit: (e) => {
        e.preventDefault();
        act(button, async () => {
          await post('console/signin', { AccessKeyId: key.value.trim(), SecretAccessKey: secret.value });
          location.reload();
        });
      },
    },
    h('h1', {}, 'Sign in'),
    h('p', {}, 'This server takes signed requests only. Sign in with an access key of its credentials file: the console then shows and does what that key\'s account may.'),
    field('Access key ID', key),
    field('Secret access key', secret),
    button,
  );
  main.replaceChildren(form);
  key.focus();
}

function showWho(account) {
  const out = h('button', { type: 'button', class: 'link' }, 'Sign out');
  out.addEventListener('click', () =>
    act(out, async () => {
      await post('console/signout');
      location.reload();
    }),
  );
  document.getElementById('who').replaceChildren(`Account ${account} · `, out);
}

// ---------------------------------------------------------------- start

async function start() {
  window.addEventListener('unhandledrejection', (e) => fail(e.reason));
  if (AUTH === 'signin') {
    const session = await fetch('console/session').then((r) => r.json());
    if (!session.SignedIn) {
      signInView();
      return;
    }
    showWho(session.Account);
  }
  window.addEventListener('hashchange', render);
  render();
}
start();

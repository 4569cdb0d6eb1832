// The cutover console: session, status, live steps over SSE, the button. Plain browser JS.
const STEPS = [
  ['gitea-mirror', 'Mirror the GitOps repository into Gitea'],
  ['harbor-projects', 'Create the Harbor projects'],
  ['harbor-prewarm', 'Copy every image and chart into Harbor'],
  ['registry-pivot', 'Pivot containerd on every node'],
  ['flux-gitrepository-patch', 'Point Flux at the local Git'],
  ['helmrepository-patches', 'Point Helm repositories at Harbor'],
  ['catalyst-api-env-patch', 'Repoint the platform API'],
  ['egress-block-test', 'Prove it with upstream egress blocked'],
];
const LABEL = { pending: 'pending', running: 'running…', done: 'done', failed: 'failed' };
const ICON = { pending: '○', running: '◐', done: '✓', failed: '✕' };
const $ = (id) => document.getElementById(id);
let session = { authenticated: false };
let status;
let events;
let ticker;

const stepState = (result) =>
  result === 'success' || result === 'skipped'
    ? 'done'
    : result === 'running'
      ? 'running'
      : result === 'failed'
        ? 'failed'
        : 'pending';

function renderSteps() {
  const list = $('steps');
  if (!list.children.length) {
    for (const [name, label] of STEPS) {
      const li = document.createElement('li');
      li.dataset.step = name;
      li.innerHTML = `<span class="icon" aria-hidden="true"></span><span class="label"></span><span class="state"></span>`;
      li.querySelector('.label').textContent = label;
      list.append(li);
    }
  }
  for (const li of list.children) {
    const row = status?.steps?.find((s) => s.name === li.dataset.step);
    const state = stepState(row?.result ?? '');
    li.dataset.state = state;
    li.querySelector('.icon').textContent = ICON[state];
    const progress = state === 'running' ? status.raw?.[`step.${li.dataset.step}.progress`] : '';
    li.querySelector('.state').textContent = progress ? `${LABEL[state]} ${progress}` : LABEL[state];
  }
}

function renderStatus() {
  const sovereign = status?.state === 'sovereign';
  const badge = $('badge');
  badge.textContent = status ? (sovereign ? 'Sovereign — tethers severed' : 'Tethered') : '…';
  badge.className = `badge ${status ? status.state : ''}`;
  if (!status) return;
  $('percent').textContent = `${status.progressPercent}%`;
  $('progress').value = status.progressPercent;
  renderSteps();
  const running = status.steps.some((s) => s.result === 'running');
  const achieve = $('achieve');
  achieve.hidden = sovereign;
  achieve.disabled = running || !session.admin;
  achieve.textContent = status.failedStep ? 'Resume the cutover' : 'Achieve True Sovereignty';
  $('not-admin').hidden = session.admin || sovereign;
  $('summary').textContent = sovereign
    ? 'The Sovereign runs on its own Gitea and Harbor; upstream egress was blocked and it kept working.'
    : "This Sovereign still depends on its upstreams. The cutover moves every tether to the Sovereign's own Gitea and Harbor, then proves it keeps working with upstream egress blocked.";
  const auto = status.autoTrigger;
  $('auto').hidden = !(auto?.enabled && auto.dueAt && !auto.firedAt);
  if (auto?.dueAt)
    $('auto').textContent = `Auto trigger armed: the cutover starts at ${new Date(auto.dueAt).toLocaleTimeString()}.`;
  renderTetherCounts();
  $('mirror').hidden = !status.mirror;
  $('mirror').textContent = status.mirror?.summary ?? '';
  $('mirror').className = status.mirror?.degraded ? 'degraded' : 'muted';
  const pins = status.pins;
  $('pins').hidden = !pins;
  $('pins').className = pins?.pendingCount ? 'degraded' : 'muted';
  $('pins').textContent = !pins
    ? ''
    : pins.pendingCount
      ? `${pins.pendingCount} of ${pins.total} pins of ${pins.revision.slice(0, 12)} cannot be served locally: ${pins.pending.map((p) => `${p.ref} (${p.reason})`).join('; ')}`
      : `All ${pins.total} pins of ${pins.revision.slice(0, 12)} are in the local Harbor.`;
  if (pins?.verifiedRevision && pins.verifiedRevision !== pins.revision)
    $('pins').textContent += ` Flux is held at ${pins.verifiedRevision.slice(0, 12)} until they are.`;
  // intake.mode request (ADR 0018): the revision waits for a sovereign-admin's approval.
  const window = status.intakeWindow;
  $('intake-window').hidden = !window;
  $('intake-window').textContent = window
    ? `Delivery window for ${window.revision.slice(0, 12)}: approved by ${window.approvedBy} at ${new Date(window.approvedAt).toLocaleString()}, ${window.outcome}, ${window.copiedCount} copied.`
    : '';
  const awaiting = status.condition?.reason === 'AwaitingApproval';
  $('approve').hidden = !awaiting || !session.admin;
  if (awaiting) $('approve').textContent = `Approve revision ${pins.revision.slice(0, 12)}`;
  // A running cutover can be stopped at its next safe point (any replica's, or a CLI run's).
  $('abort').hidden = !running || !session.admin;
  $('aborted').hidden = !status.aborted;
  $('aborted').textContent = status.aborted
    ? `Aborted by ${status.aborted.by} at ${new Date(status.aborted.at).toLocaleString()}.`
    : '';
  // Back to tethered from the journal: after a cutover, or one that failed or was aborted part-way.
  const rolling = status.rollback?.result === 'running';
  $('rollback').hidden = !session.admin || running || rolling || !(sovereign || status.failedStep);
  $('rollback-state').hidden = !status.rollback;
  $('rollback-state').textContent = status.rollback
    ? `Rollback ${status.rollback.result} (by ${status.rollback.by}, ${new Date(status.rollback.startedAt).toLocaleString()})${status.rollback.changes !== undefined ? `: ${status.rollback.changes} change(s) undone` : ''}${status.rollback.error ? ` — ${status.rollback.error}` : ''}`
    : '';
  $('error').hidden = !status.failedStep;
  $('failed-step').textContent = status.failedStep ?? '';
  $('last-error').textContent = status.lastError ?? '';
  renderCountdown();
}

function renderTetherCounts() {
  const t = status?.tethers;
  $('tether-counts').textContent = t
    ? `${t.tethered} tethered · ${t.unmapped} unmapped · ${t.exempt} exempt · ${t.pivoted} pivoted`
    : 'counting…';
}

async function loadTethers() {
  const body = await api('/api/v1/sovereign/cutover/tethers');
  const rows = body.tethers.map((t) => {
    const tr = document.createElement('tr');
    for (const [text, cls] of [
      [t.state, `state-${t.state}`],
      [t.kind],
      [t.object],
      [t.field],
      [t.upstream],
      [t.state === 'exempt' ? `exempt: ${t.reason}` : t.local || '–'],
    ]) {
      tr.append(Object.assign(document.createElement('td'), { textContent: text, className: cls ?? '' }));
    }
    return tr;
  });
  $('tether-table').tBodies[0].replaceChildren(...rows);
}

function renderCountdown() {
  const el = $('countdown');
  const w = status?.egressWindow;
  clearInterval(ticker);
  if (!w) {
    el.hidden = true;
    return;
  }
  const tick = () => {
    const left = Math.max(0, Math.ceil((Date.parse(w.startedAt) + w.durationSeconds * 1000 - Date.now()) / 1000));
    el.hidden = false;
    el.textContent =
      left > 0
        ? `Upstream egress blocked — ${left} s left in the proof window`
        : 'Egress window over — checking the results…';
  };
  tick();
  ticker = setInterval(tick, 1000);
}

async function api(path, init = {}) {
  const res = await fetch(path, {
    credentials: 'same-origin',
    ...init,
    headers: { accept: 'application/json', ...(init.headers ?? {}) },
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail ?? `${res.status}`);
  return body;
}

async function refresh() {
  status = await api('/api/v1/sovereign/cutover/status');
  renderStatus();
}

function listen() {
  events?.close();
  events = new EventSource('/api/v1/sovereign/cutover/events');
  const onEvent = () => void refresh().catch(() => undefined);
  for (const phase of [
    'cutover-started',
    'cutover-step-progress',
    'cutover-step-started',
    'cutover-step-finished',
    'cutover-step-failed',
    'cutover-completed',
    'cutover-already-complete',
  ])
    events.addEventListener(phase, onEvent);
  events.addEventListener('cutover-status', onEvent);
  // The server closes the stream after the run ends; reconnect quietly for the next one.
  events.onerror = () => {
    events.close();
    setTimeout(listen, 3000);
  };
}

async function start() {
  $('changes').replaceChildren(
    ...(status?.changes ?? []).map((text) => Object.assign(document.createElement('li'), { textContent: text })),
  );
  const dialog = $('confirm');
  dialog.showModal();
  dialog.addEventListener(
    'close',
    async () => {
      if (dialog.returnValue !== 'go') return;
      $('achieve').disabled = true;
      try {
        status = await api('/api/v1/sovereign/cutover/start', {
          method: 'POST',
          headers: { 'x-csrf-token': session.csrfToken },
        });
        renderStatus();
      } catch (error) {
        $('error').hidden = false;
        $('failed-step').textContent = '(start)';
        $('last-error').textContent = String(error.message ?? error);
        $('achieve').disabled = false;
      }
    },
    { once: true },
  );
}

/** Approves the pending revision after a confirmation naming it and every pin it will copy. */
async function approve() {
  const pins = status?.pins;
  if (!pins) return;
  const list = pins.pending.map((p) => `  ${p.ref}`).join('\n');
  if (
    !confirm(`Let revision ${pins.revision} in?\nCopied from upstream into the local Harbor:\n${list || '  (nothing)'}`)
  )
    return;
  try {
    status = await api('/api/v1/sovereign/cutover/intake/approve', {
      method: 'POST',
      headers: { 'x-csrf-token': session.csrfToken, 'content-type': 'application/json' },
      body: JSON.stringify({ revision: pins.revision }),
    });
    renderStatus();
  } catch (error) {
    $('error').hidden = false;
    $('failed-step').textContent = '(approve)';
    $('last-error').textContent = String(error.message ?? error);
  }
}

/** Stops the running cutover after a confirmation: the running step cleans up (the egress hold goes), the Lease is freed. */
async function abort() {
  const step = status?.currentStep ?? 'the running step';
  if (
    !confirm(
      `Abort the cutover?\n${step} stops at its next safe point and cleans up; nothing resumes it until someone starts the cutover again.`,
    )
  )
    return;
  $('abort').disabled = true;
  try {
    status = await api('/api/v1/sovereign/cutover/abort', {
      method: 'POST',
      headers: { 'x-csrf-token': session.csrfToken },
    });
    renderStatus();
  } catch (error) {
    $('error').hidden = false;
    $('failed-step').textContent = '(abort)';
    $('last-error').textContent = String(error.message ?? error);
  } finally {
    $('abort').disabled = false;
  }
}

/** Rolls the cutover back after a confirmation naming every change it will undo (from the journal). */
async function rollback() {
  try {
    const { changes } = await api('/api/v1/sovereign/cutover/rollback');
    const list = changes.map((c) => `  ${c.action} ${c.target}${c.detail ? ` — ${c.detail}` : ''}`).join('\n');
    if (!confirm(`Roll the cutover back to the tethered state?\n${changes.length} change(s):\n${list}`)) return;
    $('rollback').disabled = true;
    status = await api('/api/v1/sovereign/cutover/rollback', {
      method: 'POST',
      headers: { 'x-csrf-token': session.csrfToken },
    });
    renderStatus();
  } catch (error) {
    $('error').hidden = false;
    $('failed-step').textContent = '(rollback)';
    $('last-error').textContent = String(error.message ?? error);
  } finally {
    $('rollback').disabled = false;
  }
}

async function main() {
  session = await api('/api/v1/session');
  $('signed-out').hidden = session.authenticated;
  $('signed-in').hidden = !session.authenticated;
  const who = $('who');
  if (!session.authenticated) {
    $('sign-in').href = `/auth/login?returnTo=${encodeURIComponent(location.pathname)}`;
    $('badge').textContent = 'Signed out';
    return;
  }
  const out = Object.assign(document.createElement('button'), { type: 'button', textContent: 'Sign out' });
  out.addEventListener('click', async () => {
    await api('/auth/logout', { method: 'POST', headers: { 'x-csrf-token': session.csrfToken } }).catch(
      () => undefined,
    );
    location.reload();
  });
  who.replaceChildren(
    Object.assign(document.createElement('span'), {
      textContent: `${session.user}${session.admin ? ' · sovereign-admin' : ''}`,
    }),
    out,
  );
  $('achieve').addEventListener('click', () => void start());
  $('approve').addEventListener('click', () => void approve());
  $('abort').addEventListener('click', () => void abort());
  $('rollback').addEventListener('click', () => void rollback());
  $('tethers').addEventListener('toggle', () => {
    if (!$('tethers').open) return;
    void loadTethers().catch((error) => {
      // Not a sovereign-admin nor in auth.inventoryGroups, or too many reads: the table says so.
      const cell = Object.assign(document.createElement('td'), { textContent: error.message, colSpan: 6 });
      const row = document.createElement('tr');
      row.append(cell);
      $('tether-table').tBodies[0].replaceChildren(row);
    });
  });
  await refresh();
  listen();
  // Between runs there are no events: tether counts and the mirror's health are read again every 15 s.
  setInterval(() => void refresh().catch(() => undefined), 15_000);
}

void main();

// The original's cutover routes (drop-in: paths, status codes, bodies, SSE phases): status,
// tethers, start, the event stream, and the internal trigger for ServiceAccounts.
import { Hono } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { CutoverError, redact } from '../../core/errors.ts';
import { statusReport } from '../../core/status.ts';
import { AUTO_KEYS, stepKey, type StatusData } from '../../core/contracts.ts';
import type { Values } from '../../core/values.ts';
import { type CutoverControl, type StatusSource } from '../cutover-control.ts';
import { requireChange, requireSession, type SessionEnv } from '../middleware.ts';
import { OpenCount, RateLimit } from '../rate-limit.ts';
import type { SessionSealer } from '../session.ts';
import { TERMINAL, type FeedEvent } from '../status-feed.ts';

export interface CutoverApiParts {
  values: Values;
  service: CutoverControl;
  feed: StatusSource;
  sealer: SessionSealer;
  log: (line: string) => void;
}

/** Reads of the full tether inventory per identity per minute; a forced walk is never fresher than 10 s. */
export const INVENTORY_READS = 30;
const FRESH_FLOOR_MS = 10_000;
/** Event streams one session (a few tabs) and the whole replica may hold open. */
export const STREAMS_PER_SESSION = 4;
const STREAMS_TOTAL = 256;

export function cutoverApiRoutes({ values, service, feed, sealer, log }: CutoverApiParts): Hono<SessionEnv> {
  const app = new Hono<SessionEnv>();
  const signedIn = requireSession(sealer);
  const inventoryReads = new RateLimit(INVENTORY_READS, 60_000);
  const streams = new OpenCount(STREAMS_PER_SESSION, STREAMS_TOTAL);
  const change = requireChange(sealer, values.api.publicURL);

  const report = async () => {
    const data = (await feed.poll()) ?? {};
    if (feed.error) throw new CutoverError('status-read-failed', feed.error);
    // The tether counts as last taken; a stale inventory is refreshed in the background, never waited for.
    // Stale: older than 30 s, or taken before the run last changed something (a step finished).
    const last = service.lastTethers;
    if (!last || Date.now() - Date.parse(last.takenAt) > 30_000 || Date.parse(last.takenAt) < lastChangeAt(data))
      void service.tethers(0).catch((error: unknown) => log(`tether inventory: ${redact(String(error))}`));
    return {
      ...statusReport(data),
      ...extras(values, data),
      tethers: last ? { ...last.summary, takenAt: last.takenAt } : null,
    };
  };

  app.get('/api/v1/sovereign/cutover/status', signedIn, async (c) => c.json(await report()));
  // The full inventory names every workload's images: sovereign-admins and `auth.inventoryGroups` only.
  // `fresh=true` walks the whole cluster again, so it is bounded: one walk per 10 s whoever asks,
  // and each identity gets INVENTORY_READS a minute.
  app.get('/api/v1/sovereign/cutover/tethers', signedIn, async (c) => {
    const s = c.var.session;
    if (!s.admin && !s.groups.some((g) => values.auth.inventoryGroups.includes(g)))
      throw new CutoverError(
        'not-inventory-reader',
        `${s.name} may not read the tether inventory (sovereign-admins and auth.inventoryGroups may)`,
      );
    inventoryReads.take(s.sub, 'tether inventory reads');
    const snapshot = await service.tethers(c.req.query('fresh') === 'true' ? FRESH_FLOOR_MS : 30_000);
    const all = c.req.query('all') === 'true';
    return c.json({
      takenAt: snapshot.takenAt,
      summary: snapshot.summary,
      tethers: all ? snapshot.tethers : snapshot.tethers.filter((t) => t.state !== 'pivoted'),
      // Rows the tethers ConfigMap had no room for (the summary counts them; `cutover tethers` lists all).
      ...(snapshot.omitted ? { omitted: snapshot.omitted } : {}),
    });
  });
  app.post('/api/v1/sovereign/cutover/start', change, async (c) => {
    const s = c.var.session;
    if (!s.admin) throw new CutoverError('not-sovereign-admin', `${s.name} is not in ${values.auth.oidc.adminGroup}`);
    await service.start('operator');
    return c.json(await report());
  });
  // `intake.mode: request` (ADR 0018): a sovereign-admin approves the revision the console showed pending.
  app.post('/api/v1/sovereign/cutover/intake/approve', change, async (c) => {
    const s = c.var.session;
    if (!s.admin) throw new CutoverError('not-sovereign-admin', `${s.name} is not in ${values.auth.oidc.adminGroup}`);
    const body = (await c.req.json().catch(() => ({}))) as { revision?: unknown };
    if (body.revision !== undefined && (typeof body.revision !== 'string' || !/^[0-9a-f]{40}$/.test(body.revision)))
      throw new CutoverError('invalid-request', 'revision must be a 40-hex commit id');
    await service.approveIntake(s.name, body.revision);
    return c.json(await report());
  });
  // Stops the running cutover at its next safe point (the hold removed, the Lease released); who is recorded.
  app.post('/api/v1/sovereign/cutover/abort', change, async (c) => {
    const s = c.var.session;
    if (!s.admin) throw new CutoverError('not-sovereign-admin', `${s.name} is not in ${values.auth.oidc.adminGroup}`);
    await service.abort(s.name);
    return c.json(await report(), 202);
  });
  // Rollback (ADR 0019): what it would undo (the console's confirmation names each change), then do it.
  app.get('/api/v1/sovereign/cutover/rollback', signedIn, async (c) => {
    const s = c.var.session;
    if (!s.admin) throw new CutoverError('not-sovereign-admin', `${s.name} is not in ${values.auth.oidc.adminGroup}`);
    return c.json({ changes: await service.rollbackPlan() });
  });
  app.post('/api/v1/sovereign/cutover/rollback', change, async (c) => {
    const s = c.var.session;
    if (!s.admin) throw new CutoverError('not-sovereign-admin', `${s.name} is not in ${values.auth.oidc.adminGroup}`);
    await service.rollback(s.name);
    return c.json(await report(), 202);
  });
  app.get('/api/v1/sovereign/cutover/events', signedIn, (c) => {
    const release = streams.open(c.var.session.sid, 'event streams');
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      stream.onAbort(release);
      try {
        await relay(stream);
      } finally {
        release();
      }
    });
  });
  // The replayed events and the status now, then every event until a terminal one or the client leaves.
  const relay = async (stream: SSEStreamingApi) => {
    const send = (e: FeedEvent) => stream.writeSSE({ event: e.phase, data: JSON.stringify(e) });
    const replay = [...feed.replay];
    for (const e of replay) await send(e);
    const data = (await feed.poll()) ?? {};
    await send({
      time: new Date().toISOString(),
      phase: 'cutover-status',
      level: 'info',
      message: JSON.stringify(data),
    });
    const last = replay.at(-1);
    // A client gone during the replay: its abort already fired, so nothing would ever end the wait below.
    if ((last && TERMINAL.has(last.phase)) || data.cutoverComplete === 'true' || stream.aborted) return;
    await new Promise<void>((resolve) => {
      const heartbeat = setInterval(() => void stream.write(': keep-alive\n\n'), 15_000);
      const done = () => {
        clearInterval(heartbeat);
        feed.off('event', onEvent);
        resolve();
      };
      const onEvent = (e: FeedEvent) => {
        void send(e).then(() => TERMINAL.has(e.phase) && done(), done);
      };
      feed.on('event', onEvent);
      stream.onAbort(done);
    });
  };
  app.all('/api/v1/internal/cutover/trigger', async (c) => {
    if (c.req.method !== 'POST') return c.json({ error: 'method-not-allowed', detail: 'POST only' }, 405);
    const bearer = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
    if (!bearer) throw new CutoverError('missing-bearer', 'Authorization: Bearer <ServiceAccount token> is required');
    const { username, allowed } = await service.reviewToken(bearer);
    if (!allowed)
      throw new CutoverError(
        'unauthorized-sa',
        `${username || 'an unauthenticated token'} may not trigger the cutover`,
      );
    log(`internal trigger by ${username}`);
    await service.start('internal');
    return c.json(await report());
  });
  return app;
}

/** What the console needs beyond the original's status: the egress window, the auto trigger, and what will change. */
function extras(values: Values, data: StatusData) {
  const egressStarted = data[stepKey('egress-block-test', 'startedAt')];
  const egressRunning = data[stepKey('egress-block-test', 'result')] === 'running';
  return {
    egressWindow:
      egressRunning && egressStarted
        ? { startedAt: egressStarted, durationSeconds: values.egressTest.durationSeconds }
        : null,
    autoTrigger: {
      enabled: values.trigger.auto,
      delaySeconds: values.trigger.autoDelaySeconds,
      armedAt: data[AUTO_KEYS.armedAt] || null,
      dueAt: data[AUTO_KEYS.dueAt] || null,
      firedAt: data[AUTO_KEYS.firedAt] || null,
    },
    changes: [
      `Git: mirror ${values.upstream.repoURL} into Gitea ${values.gitea.org}/${values.gitea.repo} and point Flux GitRepository ${values.gitopsRepository.namespace}/${values.gitopsRepository.name} at it`,
      `Registry: copy every image and chart in use into Harbor projects ${values.harbor.hostProjects.map((r) => r.project).join(', ')}`,
      `Nodes: containerd on every node pulls ${values.harbor.hostProjects.map((r) => r.host).join(', ')} from the local Harbor`,
      `Helm: OCI HelmRepositories under ${values.helmRepositories.upstreamPrefix} move to the local Harbor`,
      `App: ${values.catalystAPI.namespace}/${values.catalystAPI.deploymentName} gets ${values.catalystAPI.envVar} = the local Gitea repository (rolls out)`,
      `Proof: upstream egress blocked for ${values.egressTest.durationSeconds} s while Flux must stay Ready and fresh pulls must work`,
    ],
  };
}

/** When a run last changed the cluster: the latest step finish (or the cutover's), 0 if none. */
function lastChangeAt(data: StatusData): number {
  const times = Object.entries(data)
    .filter(([key]) => key === 'cutoverFinishedAt' || /^step\.[^.]+\.finishedAt$/.test(key))
    .map(([, value]) => Date.parse(value))
    .filter((t) => Number.isFinite(t));
  return Math.max(0, ...times);
}

// For the platform, not the operator: liveness and Prometheus. Anyone may read them.
import { Hono } from 'hono';
import type { CutoverMetrics } from '../metrics.ts';

export function opsRoutes(metrics: Pick<CutoverMetrics, 'registry'>): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/metrics', async (c) =>
    c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType }),
  );
  return app;
}

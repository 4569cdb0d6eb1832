// `cutover serve`'s HTTP surface: the original's routes (drop-in), operator sign-in, the console.
// Each part is a small Hono app of its own; this mounts them under what every route shares
// (headers, request count, the error mapping: see middleware.ts).
import { Hono } from 'hono';
import type { Values } from '../core/values.ts';
import type { CutoverControl, SignIn, StatusSource } from './cutover-control.ts';
import type { CutoverMetrics } from './metrics.ts';
import { errorResponse, everyResponse } from './middleware.ts';
import { authRoutes } from './routes/auth.ts';
import { consoleRoutes } from './routes/console.ts';
import { cutoverApiRoutes } from './routes/cutover-api.ts';
import { opsRoutes } from './routes/ops.ts';
import type { SessionSealer } from './session.ts';

export interface ServerParts {
  values: Values;
  service: CutoverControl;
  feed: StatusSource;
  metrics: Pick<CutoverMetrics, 'registry' | 'requests'>;
  login: SignIn;
  sealer: SessionSealer;
  log: (line: string) => void;
}

export function buildApp(parts: ServerParts): Hono {
  const app = new Hono();
  // Registered before the routes, so it wraps every one of them (and the 404s).
  app.use(everyResponse(parts.metrics));
  app.onError(errorResponse(parts.log));
  app.route('/', consoleRoutes());
  app.route('/', opsRoutes(parts.metrics));
  app.route('/', authRoutes(parts));
  app.route('/', cutoverApiRoutes(parts));
  return app;
}

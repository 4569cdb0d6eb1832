// Test helpers for `cutover serve`: run it as a process against the lab, and sign in through the
// lab's real OpenID Connect provider the way a browser does (redirects, cookies, the login form).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { REPO_ROOT } from '../../lab/topology.ts';
import { STEP_IDS, STEP_LABELS } from '../../src/core/contracts.ts';
import { eventually, kube } from './kube.ts';
import { lab, uniqueName } from './lab.ts';

export interface ServeProcess {
  url: string;
  output: () => string;
  stop: () => Promise<void>;
  /** SIGKILL: the process dies holding whatever it held (its Lease expires; nothing is released). */
  kill: () => Promise<void>;
}

/** Lab values with overrides merged in (deep for objects), written to a temporary file. */
export function labValuesFile(overrides: Record<string, unknown>): string {
  const values = parse(readFileSync(lab().valuesFile, 'utf8')) as Record<string, unknown>;
  const merge = (into: Record<string, unknown>, from: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(from)) {
      if (v && typeof v === 'object' && !Array.isArray(v) && into[k] && typeof into[k] === 'object')
        merge(into[k] as Record<string, unknown>, v as Record<string, unknown>);
      else into[k] = v;
    }
  };
  merge(values, overrides);
  const file = join(tmpdir(), `${uniqueName('values')}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

/**
 * Starts `cutover serve` on `port` for `namespace` (as the lab admin): both roles in one process, or
 * one (`options.role`); resolves once /healthz answers (the controller: once it reconciles).
 */
export async function startServe(
  port: number,
  namespace: string,
  overrides: Record<string, unknown> = {},
  options: { sessionKeyInEnv?: boolean; role?: 'api' | 'controller' } = {},
): Promise<ServeProcess> {
  const e = lab();
  const url = `http://127.0.0.1:${port}`;
  const valuesFile = labValuesFile({ api: { port, bindAddress: '127.0.0.1', publicURL: url }, ...overrides });
  const child: ChildProcess = spawn(
    process.execPath,
    [
      join(REPO_ROOT, 'src/cli/main.ts'),
      'serve',
      ...(options.role ? ['--role', options.role] : []),
      '-f',
      valuesFile,
      '--kubeconfig',
      e.kube.kubeconfig,
      '-n',
      namespace,
    ],
    {
      env: {
        ...process.env,
        CUTOVER_OIDC_CLIENT_SECRET: e.oidc.clientSecret,
        // Without it, serve uses (or creates) the session-key Secret of its namespace, as an install does.
        CUTOVER_SESSION_KEY: options.sessionKeyInEnv === false ? '' : `test-session-key-${port}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  await eventually(
    `cutover serve on ${url}`,
    async () => {
      if (child.exitCode !== null) throw new Error(`cutover serve exited ${child.exitCode}: ${output}`);
      // The controller listens on no port: it says when it reconciles.
      if (options.role === 'controller') return output.includes('cutover controller');
      return (await fetch(`${url}/healthz`)).ok;
    },
    30_000,
  );
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise((resolve) => child.once('close', resolve));
    child.kill(name);
    await closed;
  };
  return {
    url,
    output: () => output,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
  };
}

/**
 * The seed's eight step ConfigMaps (a chain that lacks one is refused before any step runs), harmless
 * anywhere: step 01's Job only prints the version, step 02's exits at once with a usage error, so no
 * run gets past step 02 (a genuine failure there).
 */
export async function oneStepChain(namespace: string): Promise<() => Promise<void>> {
  const { core } = kube();
  const names = STEP_IDS.map((step, i) => ({ step, name: `cutover-step-0${i + 1}-${step}` }));
  for (const [i, { step, name }] of names.entries())
    await core.createNamespacedConfigMap({
      namespace,
      body: {
        metadata: {
          name,
          labels: {
            'app.kubernetes.io/part-of': 'self-sovereign-cutover',
            'app.kubernetes.io/component': 'cutover-step',
            [STEP_LABELS.order]: String(i + 1),
            [STEP_LABELS.mode]: 'job',
          },
        },
        data: {
          stepName: step,
          podSpec: stringify({
            containers: [
              {
                name: 'step',
                image: `${lab().upstreams.ghcr.host}/openova-io/sovereign-cutover:0.1.0`,
                args: [i === 0 ? '--version' : '--not-a-step-flag'],
              },
            ],
          }),
        },
      },
    });
  return async () => {
    for (const { name } of names) await core.deleteNamespacedConfigMap({ name, namespace }).catch(() => undefined);
  };
}

/**
 * What a run in `namespace` looks like now — the status ConfigMap, each step Job's pods and their
 * containers' states, and the tail of `cutover serve`'s log — for a test that timed out waiting on it.
 */
export async function describeRun(namespace: string, api: ServeProcess): Promise<string> {
  const { core } = kube();
  const status =
    (await core.readNamespacedConfigMap({ name: 'self-sovereign-cutover-status', namespace }).catch(() => undefined))
      ?.data ?? {};
  const pods = (await core.listNamespacedPod({ namespace })).items.map((p) => {
    const containers = (p.status?.containerStatuses ?? [])
      .map((c) => `${c.name}: ${JSON.stringify(c.state)}`)
      .join('; ');
    return `  ${p.metadata?.name} on ${p.spec?.nodeName ?? '(unscheduled)'}: ${p.status?.phase} ${containers}`;
  });
  return [
    `status (set keys): ${JSON.stringify(Object.fromEntries(Object.entries(status).filter(([, v]) => v !== '')))}`,
    `pods:${pods.length ? `\n${pods.join('\n')}` : ' none'}`,
    `cutover serve (last 2 kB):\n${api.output().slice(-2048)}`,
  ].join('\n');
}

/** A cookie jar per origin, enough for one sign-in. */
class Jar {
  readonly #cookies = new Map<string, Map<string, string>>();
  store(url: string, res: Response): void {
    const origin = new URL(url).host;
    const jar = this.#cookies.get(origin) ?? new Map<string, string>();
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (!pair || eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /max-age=0/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
    this.#cookies.set(origin, jar);
  }
  header(url: string): string {
    return [...(this.#cookies.get(new URL(url).host) ?? new Map<string, string>())]
      .map(([k, v]) => `${k}=${v}`)
      .join('; ');
  }
  get(url: string, name: string): string | undefined {
    return this.#cookies.get(new URL(url).host)?.get(name);
  }
}

export interface SignedIn {
  /** `Cookie` header value for the API. */
  cookie: string;
  csrfToken: string;
}

/** Signs in at `apiURL` as a lab user through the lab identity provider; returns the session. */
export async function signIn(apiURL: string, user: 'admin' | 'viewer'): Promise<SignedIn> {
  const jar = new Jar();
  let url = `${apiURL}/auth/login`;
  let form: { action: string } | undefined;
  for (let hop = 0; hop < 12; hop++) {
    const res = form
      ? await fetch(url, {
          method: 'POST',
          redirect: 'manual',
          headers: { cookie: jar.header(url), 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ username: user, password: lab().oidc.users[user].password }),
        })
      : await fetch(url, { redirect: 'manual', headers: { cookie: jar.header(url) } });
    jar.store(url, res);
    form = undefined;
    const location = res.headers.get('location');
    if (location) {
      await res.body?.cancel();
      url = new URL(location, url).href;
      if (url === `${apiURL}/` || url.startsWith(`${apiURL}/?`)) break;
      continue;
    }
    const html = await res.text();
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    if (res.status !== 200 || !action)
      throw new Error(`sign-in stopped at ${url}: ${res.status} ${html.slice(0, 300)}`);
    url = new URL(action, url).href;
    form = { action };
  }
  const session = jar.get(apiURL, 'cutover_session');
  if (!session) throw new Error(`sign-in as ${user} produced no session cookie`);
  const cookie = `cutover_session=${session}`;
  const me = (await (await fetch(`${apiURL}/api/v1/session`, { headers: { cookie } })).json()) as { csrfToken: string };
  return { cookie, csrfToken: me.csrfToken };
}

/** `GET /api/v1/sovereign/cutover/status` as a signed-in user. */
export async function statusAs<T>(apiURL: string, user: SignedIn): Promise<T> {
  return (await (
    await fetch(`${apiURL}/api/v1/sovereign/cutover/status`, { headers: { cookie: user.cookie } })
  ).json()) as T;
}

// How every HTTP client of the product trusts the servers it talks to (Harbor, Gitea, registries,
// upstream Git, the OIDC issuer): the system's CAs plus the values' global `tls.caBundle`; a host
// with its own bundle trusts that one too; verification is skipped only for a host named so
// (`tls.hosts[].insecureSkipVerify`), and loudly. The proxy environment (HTTPS_PROXY, NO_PROXY) is
// honoured by every client. The Kubernetes client is not concerned: it trusts its kubeconfig's CA.
import type { Agent } from 'node:http';
import { getCACertificates } from 'node:tls';
import { EnvHttpProxyAgent, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';
import { CutoverError } from '../core/errors.ts';
import { TrustAgents, type HostTrust, type TrustSnapshot } from './trust-agents.ts';

export interface TrustConfig {
  /** PEM bundle trusted for every host, besides the system's CAs. */
  caBundle: string;
  hosts: Array<{ host: string; caBundle: string; insecureSkipVerify: boolean }>;
}

let agents = new TrustAgents({ defaults: [], hosts: [] });
/** The process's CAs before any configuration (Node's bundle, NODE_EXTRA_CA_CERTS, the system's with --use-system-ca). */
const BASE_CAS = getCACertificates('default');
const dispatchers = new Map<string, Dispatcher>();

/** The certificates of a PEM bundle (one string each). */
export function pemCertificates(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/**
 * Makes this thread's clients trust as the values say. Returns one warning per host whose
 * verification is skipped (the caller logs them and records them in status). Default CAs are per
 * thread: a worker applies `trustSnapshot()` in its own.
 */
export function configureTrust(config: TrustConfig): string[] {
  const global = pemCertificates(config.caBundle);
  for (const h of config.hosts)
    if (h.caBundle && !pemCertificates(h.caBundle).length)
      throw new CutoverError('invalid-values', `tls.hosts[${h.host}].caBundle holds no PEM certificate`);
  if (config.caBundle && !global.length)
    throw new CutoverError('invalid-values', 'tls.caBundle holds no PEM certificate');
  const defaults = [...BASE_CAS, ...global];
  const hosts = config.hosts.map((h): [string, HostTrust] => [
    h.host,
    {
      ...(h.caBundle ? { ca: [...defaults, ...pemCertificates(h.caBundle)] } : {}),
      insecure: h.insecureSkipVerify,
    },
  ]);
  agents.destroy();
  agents = new TrustAgents({ defaults, hosts }).apply();
  for (const d of dispatchers.values()) void d.close();
  dispatchers.clear();
  // Global fetch: new connections only (none verified under the old trust is reused), and the proxy
  // environment (HTTPS_PROXY, NO_PROXY) followed.
  const previous = getGlobalDispatcher();
  setGlobalDispatcher(new EnvHttpProxyAgent());
  void previous.close().catch(() => undefined);
  return config.hosts
    .filter((h) => h.insecureSkipVerify)
    .map(
      (h) =>
        `TLS verification is OFF for ${h.host} (tls.hosts[].insecureSkipVerify): anyone on the path can impersonate it`,
    );
}

/** This thread's trust as plain data, for a worker thread to apply in its own (`new TrustAgents(s).apply()`). */
export function trustSnapshot(): TrustSnapshot {
  return agents.snapshot;
}

/** The keep-alive `node:http(s)` agent for a URL's host, trusting as configured. */
export function agentFor(url: URL): Agent {
  return agents.agentFor(url);
}

/** `fetch`, trusting as configured: a host with its own CA or no verification gets its own dispatcher. */
export async function trustedFetch(input: string | URL, init: RequestInit = {}): Promise<Response> {
  const host = new URL(input).host;
  const t = agents.hosts.get(host);
  if (!t) return await fetch(input, init);
  let dispatcher = dispatchers.get(host);
  if (!dispatcher) {
    const tlsOptions = { ...(t.ca ? { ca: t.ca } : {}), ...(t.insecure ? { rejectUnauthorized: false } : {}) };
    // Both: `connect` for a host reached directly (NO_PROXY), `requestTls` inside a proxy's tunnel.
    dispatcher = new EnvHttpProxyAgent({ connect: tlsOptions, requestTls: tlsOptions });
    dispatchers.set(host, dispatcher);
  }
  return await fetch(input, { ...init, dispatcher } as unknown as RequestInit);
}

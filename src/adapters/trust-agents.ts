// The trust of one thread as `node:http(s)` agents (node: modules only, so the blob pump's worker
// can load it and stay small): the default CAs, and per host its own CA or no verification, the
// proxy environment honoured. Built from a snapshot `trust.ts` makes, in each thread.
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { setDefaultCACertificates } from 'node:tls';

export interface HostTrust {
  ca?: string[];
  insecure: boolean;
}

/** Plain data: it crosses into a worker thread. */
export interface TrustSnapshot {
  /** The system's CAs and the global bundle: every host trusts these. */
  defaults: string[];
  hosts: Array<[string, HostTrust]>;
}

export class TrustAgents {
  readonly snapshot: TrustSnapshot;
  readonly hosts: Map<string, HostTrust>;
  readonly #agents = new Map<string, HttpAgent>();

  constructor(snapshot: TrustSnapshot) {
    this.snapshot = snapshot;
    this.hosts = new Map(snapshot.hosts);
  }

  /** This thread's default CAs (fetch, and agents without their own `ca`) become the snapshot's. */
  apply(): this {
    if (this.snapshot.defaults.length) setDefaultCACertificates(this.snapshot.defaults);
    return this;
  }

  /** A keep-alive agent for the URL's host (one per host and scheme). */
  agentFor(url: URL): HttpAgent {
    const key = `${url.protocol}//${url.host}`;
    let agent = this.#agents.get(key);
    if (!agent) {
      const t = this.hosts.get(url.host);
      agent =
        url.protocol === 'https:'
          ? new HttpsAgent({
              keepAlive: true,
              proxyEnv: process.env,
              ...(t?.ca ? { ca: t.ca } : {}),
              ...(t?.insecure ? { rejectUnauthorized: false } : {}),
            })
          : new HttpAgent({ keepAlive: true, proxyEnv: process.env });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  destroy(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}

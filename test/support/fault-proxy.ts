// A fault-injecting HTTP proxy in front of a real registry, for failures a real peer will not
// produce on demand: a share of requests answers 503, resets the connection before answering, or
// cuts a blob body off half-way. Seeded, so a failing run can be replayed. Optionally slows blob
// bodies down so a test can kill a copy mid-way, or answers the first blob reads 401 (a token that
// expired mid-run).
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FaultProxyOptions {
  /** Share of requests that fail, 0..1. */
  failureRate: number;
  seed?: number;
  /** Delay before each blob body is sent (ms). */
  blobDelayMs?: number;
  /** The first this many blob GETs answer 401 with a Bearer challenge, as for an expired token. */
  unauthorizedBlobGets?: number;
}

export class FaultProxy {
  readonly #target: URL;
  readonly #options: FaultProxyOptions;
  #server: Server | undefined;
  #state: number;
  readonly injected = { status503: 0, reset: 0, truncated: 0, unauthorized: 0 };
  requests = 0;

  constructor(target: string, options: FaultProxyOptions) {
    this.#target = new URL(target);
    this.#options = options;
    this.#state = options.seed ?? 42;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server?.address() as AddressInfo).port}`;
  }

  get faults(): number {
    return this.injected.status503 + this.injected.reset + this.injected.truncated;
  }

  /** mulberry32: a tiny deterministic PRNG. */
  #random(): number {
    this.#state = (this.#state + 0x6d2b79f5) | 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    const isBlob = /\/blobs\/sha256:/.test(req.url ?? '') && req.method === 'GET';
    if (isBlob && this.injected.unauthorized < (this.#options.unauthorizedBlobGets ?? 0)) {
      this.injected.unauthorized++;
      res.writeHead(401, {
        'content-type': 'application/json',
        'www-authenticate': `Bearer realm="${this.url}/token",service="fault-proxy"`,
      });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"token expired (injected)"}]}');
      return;
    }
    const roll = this.#random();
    if (roll < this.#options.failureRate) {
      const kind = this.#random();
      if (kind < 0.4) {
        this.injected.status503++;
        res
          .writeHead(503, { 'content-type': 'application/json' })
          .end('{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}');
        return;
      }
      if (kind < 0.7 || !isBlob) {
        this.injected.reset++;
        req.socket.destroy();
        return;
      }
    }
    const truncate = roll < this.#options.failureRate && isBlob;
    const upstream = request(
      {
        host: this.#target.hostname,
        port: this.#target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: this.#target.host },
      },
      (answer) => {
        // A client that goes away mid-answer (a retry after a short read) must not leave the upstream
        // response paused on a referenced socket: that would keep the test process alive.
        res.on('close', () => answer.destroy());
        const send = () => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          if (!truncate) {
            answer.pipe(res);
            return;
          }
          // Half the body, then the connection drops: the client sees a short read.
          this.injected.truncated++;
          const half = Number(answer.headers['content-length'] ?? 0) / 2;
          let sent = 0;
          answer.on('data', (chunk: Buffer) => {
            if (sent + chunk.length >= half) {
              res.write(chunk.subarray(0, Math.max(0, Math.floor(half - sent))));
              res.socket?.destroy();
              answer.destroy();
              return;
            }
            sent += chunk.length;
            res.write(chunk);
          });
        };
        if (isBlob && this.#options.blobDelayMs) setTimeout(send, this.#options.blobDelayMs);
        else send();
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

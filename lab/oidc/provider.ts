// The lab's identity provider: a real OpenID Connect provider (panva's `oidc-provider`, certified
// OP) on 127.0.0.1, with a plain sign-in page in front of it. Lab users and their groups are
// fixed: `admin` is a sovereign-admin, `viewer` is signed in but not an admin.
import { peerServer, type ServingCert } from '../peers-pki.ts';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Provider, type KoaContextWithOIDC } from 'oidc-provider';

export interface LabOidcConfig {
  address: string;
  port: number;
  clientID: string;
  clientSecret: string;
  redirectURIs: string[];
  users: Record<string, { password: string; groups: string[] }>;
  cookieKey: string;
  /** Serve HTTPS with this certificate (signed by the lab's private CA); plain HTTP without. */
  tls?: ServingCert;
}

const page = (
  uid: string,
  error = '',
) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Lab identity provider — sign in</title>
<style>body{font:16px system-ui;max-width:24rem;margin:4rem auto}label{display:block;margin:.8rem 0}input{width:100%;padding:.4rem;font-size:1rem}button{padding:.5rem 1.2rem;font-size:1rem}.error{color:#a00}</style></head>
<body><h1>Lab identity provider</h1>${error ? `<p class="error" role="alert">${error}</p>` : ''}
<form method="post" action="/interaction/${encodeURIComponent(uid)}/login">
<label>Username <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button></form></body></html>`;

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

export class LabOidc {
  readonly issuer: string;
  readonly #config: LabOidcConfig;
  readonly #provider: Provider;
  #server: Server | undefined;

  constructor(config: LabOidcConfig) {
    this.#config = config;
    this.issuer = `${config.tls ? 'https' : 'http'}://${config.address}:${config.port}`;
    const users = config.users;
    this.#provider = new Provider(this.issuer, {
      clients: [
        {
          client_id: config.clientID,
          client_secret: config.clientSecret,
          redirect_uris: config.redirectURIs,
          grant_types: ['authorization_code'],
          response_types: ['code'],
        },
      ],
      scopes: ['openid', 'profile', 'groups'],
      claims: { openid: ['sub'], profile: ['name', 'preferred_username'], groups: ['groups'] },
      findAccount: (_ctx: KoaContextWithOIDC, id: string) =>
        users[id]
          ? {
              accountId: id,
              claims: () => ({ sub: id, name: id, preferred_username: id, groups: users[id]?.groups ?? [] }),
            }
          : undefined,
      features: { devInteractions: { enabled: false } },
      interactions: {
        url: (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
      },
      cookies: { keys: [config.cookieKey] },
      pkce: { required: () => true },
      ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
    });
    // Plain http on loopback: tell the provider its cookies are not on a TLS origin.
    if (!config.tls) this.#provider.proxy = true;
  }

  async start(): Promise<void> {
    const callback = this.#provider.callback();
    const handle = (req: IncomingMessage, res: ServerResponse) => {
      void this.#handle(req, res, callback).catch((error: unknown) => {
        res.statusCode = 500;
        res.end(String(error instanceof Error ? error.message : error));
      });
    };
    this.#server = peerServer(handle, this.#config.tls);
    await new Promise<void>((resolve, reject) => {
      this.#server?.once('error', reject);
      this.#server?.listen(this.#config.port, this.#config.address, () => resolve());
    });
  }

  async #handle(
    req: IncomingMessage,
    res: ServerResponse,
    callback: (req: IncomingMessage, res: ServerResponse) => unknown,
  ): Promise<void> {
    const url = new URL(req.url ?? '/', this.issuer);
    const login = /^\/interaction\/([^/]+)\/login$/.exec(url.pathname);
    const show = /^\/interaction\/([^/]+)$/.exec(url.pathname);
    if (show && req.method === 'GET') {
      const { uid } = await this.#provider.interactionDetails(req, res);
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.setHeader('cache-control', 'no-store');
      res.end(page(uid));
      return;
    }
    if (login && req.method === 'POST') {
      const details = await this.#provider.interactionDetails(req, res);
      const form = await readForm(req);
      const username = form.get('username') ?? '';
      const user = this.#config.users[username];
      if (!user || user.password !== (form.get('password') ?? '')) {
        res.statusCode = 401;
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.end(page(details.uid, 'Wrong username or password.'));
        return;
      }
      // A first-party client: the grant is given with the sign-in, no consent screen.
      const grant = new this.#provider.Grant({ accountId: username, clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope ?? 'openid'));
      const grantId = await grant.save();
      await this.#provider.interactionFinished(
        req,
        res,
        { login: { accountId: username }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    await callback(req, res);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}

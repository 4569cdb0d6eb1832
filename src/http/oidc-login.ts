// Operator sign-in with the Sovereign's identity provider: OpenID Connect authorization code flow
// with PKCE, state and nonce (openid-client). Groups come from the ID token or, when the provider
// keeps them there, from userinfo; membership of `auth.oidc.adminGroup` makes a sovereign-admin.
import { randomUUID } from 'node:crypto';
import * as oidc from 'openid-client';
import { CutoverError } from '../core/errors.ts';
import { trustedFetch } from '../adapters/trust.ts';
import { fetchFailure } from '../adapters/http-json.ts';
import { SESSION_SECONDS, type PendingLogin, type Session } from './session.ts';

export interface OidcSettings {
  issuerURL: string;
  clientID: string;
  clientSecret: string;
  adminGroup: string;
  groupsClaim: string;
}

export class OidcLogin {
  readonly #settings: OidcSettings;
  #config: Promise<oidc.Configuration> | undefined;

  constructor(settings: OidcSettings) {
    this.#settings = settings;
  }

  /** Discovery, once it succeeds (a provider that is down now is asked again next time). */
  async #configuration(): Promise<oidc.Configuration> {
    const { issuerURL, clientID, clientSecret } = this.#settings;
    if (!issuerURL)
      throw new CutoverError('auth-unconfigured', 'no identity provider configured (auth.oidc.issuerURL)');
    this.#config ??= oidc
      .discovery(new URL(issuerURL), clientID, clientSecret, undefined, {
        // The issuer is trusted as the values say (tls.*), like every other peer.
        [oidc.customFetch]: (url, options) => trustedFetch(url, options as RequestInit),
        ...(issuerURL.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : {}),
      })
      .catch((error: unknown) => {
        this.#config = undefined;
        throw new CutoverError(
          'identity-provider-unavailable',
          `identity provider ${issuerURL} is unavailable: ${fetchFailure(error)}`,
          { cause: error },
        );
      });
    return await this.#config;
  }

  /** Where to send the browser, and what the callback must find again. */
  async begin(redirectURI: string, returnTo: string): Promise<{ url: string; pending: PendingLogin }> {
    const config = await this.#configuration();
    const verifier = oidc.randomPKCECodeVerifier();
    const pending: PendingLogin = {
      state: oidc.randomState(),
      nonce: oidc.randomNonce(),
      verifier,
      returnTo,
      exp: Math.floor(Date.now() / 1000) + 600,
    };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectURI,
      scope: 'openid profile groups',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: pending.state,
      nonce: pending.nonce,
    });
    return { url: url.href, pending };
  }

  /** Exchanges the code on the callback URL for a session. */
  async finish(callbackURL: URL, pending: PendingLogin): Promise<Session> {
    const config = await this.#configuration();
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callbackURL, {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      throw new CutoverError(
        'sign-in-failed',
        `sign-in failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    const claims: Record<string, unknown> = { ...tokens.claims() };
    if (!Array.isArray(claims[this.#settings.groupsClaim])) {
      Object.assign(claims, await oidc.fetchUserInfo(config, tokens.access_token, String(claims.sub)));
    }
    const groups = (
      Array.isArray(claims[this.#settings.groupsClaim]) ? (claims[this.#settings.groupsClaim] as unknown[]) : []
    ).map(String);
    return {
      sid: randomUUID(),
      sub: String(claims.sub),
      name: String(claims.preferred_username ?? claims.name ?? claims.sub),
      groups,
      admin: groups.includes(this.#settings.adminGroup),
      exp: Math.floor(Date.now() / 1000) + SESSION_SECONDS,
    };
  }
}

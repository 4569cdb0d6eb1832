// The Sovereign's private CA (not the cluster's): it signs the serving certificates of the lab's
// HTTPS peers, as an organisation's own CA would. Clients trust it only through what they are
// given: the cutover through `tls.caBundle` in its values, the tests and the lab through the same
// product code (configureTrust), nodes through hosts.toml `ca`, Flux through `certSecretRef`.
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { join } from 'node:path';
import { configureTrust } from '../src/adapters/trust.ts';
import { ensureCa, servingExtensions, signWithCa } from './kube/pki.ts';
import { LAB_DIR, NET } from './topology.ts';

const DIR = join(LAB_DIR, 'pki-peers');
export const PEERS_CA = { cert: join(DIR, 'ca.crt'), key: join(DIR, 'ca.key') };
/** The system's CAs and the private CA in one file, for Go and git peers (SSL_CERT_FILE, http.sslCAInfo replace the system's). */
export const TRUST_BUNDLE = join(DIR, 'system-and-private-ca.pem');
/** Every HTTPS peer serves this certificate: for the lab network's upstream and cluster addresses. */
export const PEERS_CERT = { cert: join(DIR, 'peers.crt'), key: join(DIR, 'peers.key') };

export function ensurePeersPki(): void {
  mkdirSync(DIR, { recursive: true });
  ensureCa(PEERS_CA, 'sovereign-lab-private-ca');
  signWithCa(
    PEERS_CA,
    PEERS_CERT,
    '/CN=sovereign.lab peers',
    servingExtensions(['IP:127.0.0.1', 'DNS:localhost', `IP:${NET.internet.ip}`, `IP:${NET.cluster.ip}`]),
  );
  const system = '/etc/ssl/certs/ca-certificates.crt';
  writeFileSync(
    TRUST_BUNDLE,
    `${existsSync(system) ? readFileSync(system, 'utf8') : ''}\n${readFileSync(PEERS_CA.cert, 'utf8')}`,
  );
}

/** base64(SHA-256(SPKI)) of the peers' certificate: what Chromium's --ignore-certificate-errors-spki-list names. */
export function peersCertSpki(): string {
  ensurePeersPki();
  const spki = new X509Certificate(readFileSync(PEERS_CERT.cert)).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('base64');
}

/** The private CA's certificate (PEM). */
export function peersCaPem(): string {
  ensurePeersPki();
  return readFileSync(PEERS_CA.cert, 'utf8');
}

let trusted = false;
/**
 * This process trusts the private CA as the cutover does, through its values' `tls.caBundle`
 * (configureTrust): the lab's own commands and the tests, once per process.
 */
export function trustPeersCa(): void {
  if (trusted) return;
  configureTrust({ caBundle: peersCaPem(), hosts: [] });
  // …and so does every git this process starts (the upstream Git is HTTPS on the private CA).
  process.env.GIT_SSL_CAINFO = TRUST_BUNDLE;
  trusted = true;
}

/** A serving certificate and key, as files. */
export interface ServingCert {
  cert: string;
  key: string;
}

/** A lab peer's server: HTTPS with `tls` (a certificate the private CA signed), plain HTTP without. */
export function peerServer(handle: (req: IncomingMessage, res: ServerResponse) => void, tls?: ServingCert): Server {
  return tls
    ? createTlsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, handle)
    : createServer(handle);
}

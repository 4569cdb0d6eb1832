// The lab cluster's PKI, made once with openssl: a CA, the apiserver's serving certificate,
// client certificates (admin in system:masters, the controller-manager), the service-account
// signing key pair, and kubeconfigs that embed them.
import { execFileSync } from 'node:child_process';
import { NET } from '../topology.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export interface Pki {
  dir: string;
  ca: { cert: string; key: string };
  apiserver: { cert: string; key: string };
  admin: { cert: string; key: string };
  controllerManager: { cert: string; key: string };
  serviceAccount: { key: string; pub: string };
}

export function pkiPaths(dir: string): Pki {
  const pair = (name: string) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  return {
    dir,
    ca: pair('ca'),
    apiserver: pair('apiserver'),
    admin: pair('admin'),
    controllerManager: pair('controller-manager'),
    serviceAccount: { key: join(dir, 'sa.key'), pub: join(dir, 'sa.pub') },
  };
}

const openssl = (...args: string[]): void => {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

type Pair = { cert: string; key: string };

/** A self-signed CA, made once. */
export function ensureCa(ca: Pair, commonName: string): void {
  if (existsSync(ca.cert)) return;
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    ca.key,
    '-out',
    ca.cert,
    '-days',
    '3650',
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  );
}

/** A key pair and a certificate the CA signs with these extensions, made once. */
export function signWithCa(ca: Pair, pair: Pair, subject: string, extensions: string): void {
  const csr = `${pair.cert}.csr`;
  const ext = `${pair.cert}.ext`;
  // Made again when its extensions changed (a peer moved to another address).
  if (existsSync(pair.cert) && existsSync(ext) && readFileSync(ext, 'utf8') === extensions) return;
  writeFileSync(ext, extensions);
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', pair.key, '-out', csr, '-subj', subject);
  openssl(
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    pair.cert,
    '-days',
    '3650',
    '-extfile',
    ext,
  );
}

/** The extensions of a TLS server certificate for these subject alternative names. */
export function servingExtensions(sans: string[]): string {
  return `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`;
}

export function ensurePki(dir: string): Pki {
  const p = pkiPaths(dir);
  mkdirSync(dir, { recursive: true });
  ensureCa(p.ca, 'sovereign-lab-ca');
  signWithCa(
    p.ca,
    p.apiserver,
    '/CN=kube-apiserver',
    servingExtensions([
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
      'DNS:localhost',
      'IP:127.0.0.1',
      `IP:${NET.kubernetesServiceIP}`,
      `IP:${NET.controlPlane.ip}`,
    ]),
  );
  const client =
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n';
  signWithCa(p.ca, p.admin, '/O=system:masters/CN=lab-admin', client);
  signWithCa(p.ca, p.controllerManager, '/CN=system:kube-controller-manager', client);
  if (!existsSync(p.serviceAccount.key)) {
    openssl('genrsa', '-out', p.serviceAccount.key, '2048');
    openssl('rsa', '-in', p.serviceAccount.key, '-pubout', '-out', p.serviceAccount.pub);
  }
  return p;
}

/** A kubeconfig with the certificates embedded, so it works from any directory. */
export function writeKubeconfig(
  file: string,
  server: string,
  caCert: string,
  client: { cert: string; key: string },
  user: string,
): void {
  const b64 = (path: string): string => readFileSync(path).toString('base64');
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'sovereign-lab', cluster: { server, 'certificate-authority-data': b64(caCert) } }],
      users: [
        { name: user, user: { 'client-certificate-data': b64(client.cert), 'client-key-data': b64(client.key) } },
      ],
      contexts: [{ name: 'sovereign-lab', context: { cluster: 'sovereign-lab', user } }],
      'current-context': 'sovereign-lab',
    }),
    { mode: 0o600 },
  );
}

// TLS with a private CA, against the lab's local Harbor (HTTPS, its certificate signed by the
// Sovereign's private CA): every client of the product verifies it with the values' CA, refuses it
// with a wrong CA or none, trusts a host's own CA only for that host, skips verification only for a
// host named so (and says so), goes through HTTPS_PROXY unless NO_PROXY names the host, and takes a CA
// bundle from a Secret as well as inline.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { HarborApi } from '../src/adapters/harbor/harbor-api.ts';
import { DistributionClient } from '../src/adapters/oci/distribution-client.ts';
import { fetchFailure } from '../src/adapters/http-json.ts';
import { configureTrust, trustedFetch } from '../src/adapters/trust.ts';
import { OidcLogin } from '../src/http/oidc-login.ts';
import { ensureCa } from '../lab/kube/pki.ts';
import { peersCaPem } from '../lab/peers-pki.ts';
import { REPO_ROOT } from '../lab/topology.ts';
import { labValuesFile } from './support/api.ts';
import { cleanupsAfterAll, lab } from './support/lab.ts';
import { kube, testNamespace } from './support/kube.ts';
import { KubeCluster } from '../src/adapters/kube/cluster.ts';
import { withCaSecrets } from '../src/adapters/kube/ca-secrets.ts';
import { parseValues } from '../src/core/values.ts';
import { runnerGrants } from '../src/render/rbac.ts';

const execFileAsync = promisify(execFile);
const e = lab();
const privateCa = peersCaPem();
const scratch = mkdtempSync(join(tmpdir(), 'trust-'));
const other = { cert: join(scratch, 'other-ca.crt'), key: join(scratch, 'other-ca.key') };
ensureCa(other, 'some-other-ca');
const otherCa = readFileSync(other.cert, 'utf8');
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

/** One call through each client family: node:https agents (registry), fetch (Harbor REST), bare trusted fetch. */
async function callEach(url: string): Promise<string[]> {
  const outcomes: string[] = [];
  for (const call of [
    () => new DistributionClient(url).ping(),
    () => new HarborApi(url, e.localHarbor).project('library'),
    async () => {
      const res = await trustedFetch(`${url}/api/v2.0/ping`);
      if (res.status !== 200) throw new Error(`status ${res.status}`);
    },
  ]) {
    try {
      await call();
      outcomes.push('ok');
    } catch (error) {
      outcomes.push(fetchFailure(error)); // the message and its cause (fetch says only "fetch failed")
    }
  }
  return outcomes;
}

test('every client verifies the local Harbor with the private CA; a wrong CA or none is refused', async () => {
  configureTrust({ caBundle: privateCa, hosts: [] });
  assert.deepEqual(await callEach(e.localHarbor.url), ['ok', 'ok', 'ok']);

  for (const caBundle of [otherCa, '']) {
    configureTrust({ caBundle, hosts: [] });
    const refused = await callEach(e.localHarbor.url);
    for (const outcome of refused)
      assert.match(outcome, /unable to verify|self[- ]signed|certificate/, `refused with the reason: ${outcome}`);
  }
});

test('every HTTPS peer of the lab (local Harbor, Gitea, identity provider, upstream Git, the quay stand-in) is verified with the private CA and refused with another', async () => {
  const peers = [
    `${e.localHarbor.url}/api/v2.0/ping`,
    `${e.gitea.url}/api/v1/version`,
    `${e.oidc.issuer}/.well-known/openid-configuration`,
    `${e.git.repoURL}/info/refs?service=git-upload-pack`,
    `${e.upstreams.quay.url}/v2/`,
  ];
  for (const url of peers) assert.ok(url.startsWith('https://'), `${url} is HTTPS`);
  const outcomes = async () =>
    await Promise.all(
      peers.map(async (url) => {
        try {
          const res = await trustedFetch(url);
          await res.body?.cancel();
          return `HTTP ${res.status}`;
        } catch (error) {
          return fetchFailure(error);
        }
      }),
    );
  configureTrust({ caBundle: privateCa, hosts: [] });
  for (const [i, outcome] of (await outcomes()).entries()) assert.equal(outcome, 'HTTP 200', peers[i]);
  configureTrust({ caBundle: otherCa, hosts: [] });
  for (const [i, outcome] of (await outcomes()).entries())
    assert.match(outcome, /unable to verify|self[- ]signed|certificate/, `${peers[i]} refused: ${outcome}`);
  configureTrust({ caBundle: privateCa, hosts: [] });
});

test('the identity provider (HTTPS, private CA) is discovered with the CA and refused with a wrong one', async () => {
  const login = () =>
    new OidcLogin({
      issuerURL: e.oidc.issuer,
      clientID: e.oidc.clientID,
      clientSecret: e.oidc.clientSecret,
      adminGroup: 'sovereign-admins',
      groupsClaim: 'groups',
    }).begin('http://127.0.0.1:15050/auth/callback', '/');
  configureTrust({ caBundle: privateCa, hosts: [] });
  const { url } = await login();
  assert.ok(url.startsWith(`${e.oidc.issuer}/`), url);
  configureTrust({ caBundle: otherCa, hosts: [] });
  await assert.rejects(login(), /identity provider .* is unavailable: .*(certificate|verify)/);
  configureTrust({ caBundle: privateCa, hosts: [] });
});

/** The same server under another host (127.0.0.1:<port>, which its certificate also names): a TCP forwarder. */
async function sameServerElsewhere(target: string): Promise<{ url: string; close: () => void }> {
  const { hostname, port } = new URL(target);
  const { connect } = await import('node:net');
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    client.pipe(upstream).pipe(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { url: `https://127.0.0.1:${address.port}`, close: () => server.close() };
}

test("a host's own CA is trusted for that host only; skipping verification is per host and said", async (t) => {
  const byIp = e.localHarbor.url;
  const elsewhere = await sameServerElsewhere(byIp);
  t.after(elsewhere.close);
  const byName = elsewhere.url; // the same server, another host in its certificate
  configureTrust({
    caBundle: '',
    hosts: [{ host: new URL(byIp).host, caBundle: privateCa, insecureSkipVerify: false }],
  });
  assert.deepEqual(await callEach(byIp), ['ok', 'ok', 'ok']);
  for (const outcome of await callEach(byName)) assert.match(outcome, /unable to verify|certificate/);

  // (The Harbor's own host here: its token realm names it, so a client of the other host goes there too.)
  const warnings = configureTrust({
    caBundle: '',
    hosts: [{ host: new URL(byIp).host, caBundle: '', insecureSkipVerify: true }],
  });
  assert.deepEqual(warnings, [
    `TLS verification is OFF for ${new URL(byIp).host} (tls.hosts[].insecureSkipVerify): anyone on the path can impersonate it`,
  ]);
  assert.deepEqual(await callEach(byIp), ['ok', 'ok', 'ok']);
  for (const outcome of await callEach(byName))
    assert.match(outcome, /unable to verify|certificate/, 'not for other hosts');
  configureTrust({ caBundle: privateCa, hosts: [] });
});

test('values: a bundle without a certificate is refused; a skipped verification is a warning on stderr', () => {
  const render = (tls: object) =>
    spawnSync(process.execPath, [join(REPO_ROOT, 'src/cli/main.ts'), 'render', '-f', labValuesFile({ tls })], {
      encoding: 'utf8',
    });
  const bad = render({ caBundle: 'not a certificate' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /tls\.caBundle holds no PEM certificate/);
  const insecure = render({ hosts: [{ host: 'harbor.example:443', insecureSkipVerify: true }] });
  assert.equal(insecure.status, 0, insecure.stderr);
  assert.match(insecure.stderr, /WARNING: TLS verification is OFF for harbor\.example:443/);
});

/** A CONNECT proxy that records the targets it tunnels to. */
async function connectProxy(): Promise<{ url: string; targets: string[]; server: Server }> {
  const targets: string[] = [];
  const { connect } = await import('node:net');
  const server = createServer((client) => {
    client.once('data', (head) => {
      const line = head.toString('latin1').split('\r\n')[0] ?? '';
      const target = /^CONNECT (\S+) HTTP/.exec(line)?.[1];
      if (!target) return client.destroy();
      targets.push(target);
      const [host, port] = target.split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, targets, server };
}

test('HTTPS_PROXY is honoured by every client (NO_PROXY names the hosts that go direct)', async () => {
  const proxy = await connectProxy();
  try {
    const script = join(scratch, 'through-proxy.ts');
    writeFileSync(
      script,
      `import { configureTrust, trustedFetch } from '${REPO_ROOT}/src/adapters/trust.ts';
import { DistributionClient } from '${REPO_ROOT}/src/adapters/oci/distribution-client.ts';
import { HarborApi } from '${REPO_ROOT}/src/adapters/harbor/harbor-api.ts';
const [url, ca, user, password] = process.argv.slice(2);
configureTrust({ caBundle: ca, hosts: [] });
await new DistributionClient(url).ping();
await new HarborApi(url, { username: user, password }).project('library');
configureTrust({ caBundle: '', hosts: [{ host: new URL(url).host, caBundle: ca, insecureSkipVerify: false }] });
const res = await trustedFetch(url + '/api/v2.0/ping');
if (res.status !== 200) throw new Error('status ' + res.status);
console.log('ok');
`,
    );
    // Asynchronously: the proxy answers from this process's event loop.
    const run = (env: Record<string, string>) =>
      execFileAsync(
        process.execPath,
        [script, e.localHarbor.url, privateCa, e.localHarbor.username, e.localHarbor.password],
        { encoding: 'utf8', env: { ...process.env, HTTPS_PROXY: proxy.url, NO_PROXY: '', ...env } },
      );
    const proxied = await run({});
    // node:https agents, global fetch, an undici dispatcher: each went through the proxy's tunnel.
    assert.ok(proxied.stdout.includes('ok'));
    assert.ok(proxy.targets.length >= 3, `tunnels: ${proxy.targets.join(', ')}`);
    assert.ok(proxy.targets.every((t) => t === e.localHarbor.host));
    proxy.targets.length = 0;
    const direct = await run({ NO_PROXY: new URL(e.localHarbor.url).hostname });
    assert.ok(direct.stdout.includes('ok'));
    assert.deepEqual(proxy.targets, [], 'NO_PROXY hosts go direct');
  } finally {
    proxy.server.close();
  }
});

test('cutover probe counts a server whose certificate it cannot verify as reachable (it answered)', () => {
  const probe = (...args: string[]) =>
    spawnSync(process.execPath, [join(REPO_ROOT, 'src/cli/main.ts'), 'probe', ...args], { encoding: 'utf8' });
  const target = `${e.localHarbor.url}/v2/`;
  const before = probe('--expect', 'reachable', '--within', '5', target);
  assert.equal(before.status, 0, before.stderr);
  assert.match(before.stdout, /reachable: .*\(TLS handshake \(\w+\)\)/);
  const leak = probe('--within', '2', target);
  assert.notEqual(leak.status, 0);
  assert.match(leak.stderr, /LEAK: still reachable under the egress hold: .*TLS handshake/);
});

test('a CA bundle kept in a Secret (tls.caBundleSecretRef) is read and trusted; a missing Secret or key is a clear error', async () => {
  const cleanups = cleanupsAfterAll();
  const namespace = await testNamespace('ca-secret', cleanups);
  const cluster = KubeCluster.connect(e.kube.kubeconfig);
  await kube().core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'private-ca' }, stringData: { 'ca.crt': privateCa } },
  });
  const values = parseValues(readFileSync(e.valuesFile, 'utf8'));
  const withRef = (tls: object) => ({ ...values, tls: { caBundle: '', hosts: [], ...tls } }) as typeof values;

  const global = await withCaSecrets(
    withRef({ caBundleSecretRef: { name: 'private-ca', namespace: '', key: 'ca.crt' } }),
    cluster,
    namespace,
  );
  configureTrust(global.tls);
  assert.deepEqual(await callEach(e.localHarbor.url), ['ok', 'ok', 'ok']);
  const perHost = await withCaSecrets(
    withRef({
      hosts: [
        {
          host: e.localHarbor.host,
          caBundle: '',
          insecureSkipVerify: false,
          caBundleSecretRef: { name: 'private-ca', namespace, key: 'ca.crt' },
        },
      ],
    }),
    cluster,
    'elsewhere',
  );
  configureTrust(perHost.tls);
  assert.deepEqual(await callEach(e.localHarbor.url), ['ok', 'ok', 'ok']);
  configureTrust({ caBundle: privateCa, hosts: [] });

  await assert.rejects(
    withCaSecrets(
      withRef({ caBundleSecretRef: { name: 'no-such-ca', namespace: '', key: 'ca.crt' } }),
      cluster,
      namespace,
    ),
    new RegExp(`tls\\.caBundleSecretRef: Secret ${namespace}/no-such-ca does not exist`),
  );
  await assert.rejects(
    withCaSecrets(
      withRef({ caBundleSecretRef: { name: 'private-ca', namespace: '', key: 'bundle.pem' } }),
      cluster,
      namespace,
    ),
    /has no key "bundle\.pem" \(its keys: ca\.crt\)/,
  );
  // The runner may read exactly that Secret, by name.
  const grants = runnerGrants(
    withRef({ caBundleSecretRef: { name: 'private-ca', namespace: '', key: 'ca.crt' } }),
    namespace,
  );
  assert.ok(
    grants.some(
      (g) => g.namespace === namespace && g.resource === 'secrets' && g.resourceNames?.includes('private-ca'),
    ),
  );
});

// The lab's Kubernetes control plane: etcd (Debian), kube-apiserver and kube-controller-manager
// (built from k8s.io/kubernetes). TLS everywhere, RBAC on, TokenRequest/TokenReview working.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { peerBinary } from '../peers/build.ts';
import { httpOk, startDaemon, stopDaemon, waitUntil } from '../processes.ts';
import { LAB_DIR, NET, PORTS } from '../topology.ts';
import { ensurePki, pkiPaths, writeKubeconfig, type Pki } from './pki.ts';

export const KUBE_DIR = join(LAB_DIR, 'kube');
export const ADMIN_KUBECONFIG = join(LAB_DIR, 'kubeconfig');
/** The apiserver on the control plane's node address (pods reach it as the `kubernetes` Service). */
export const APISERVER_URL = `https://${NET.controlPlane.ip}:${PORTS.apiserver}`;
const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** The apiserver's audit log (JSON lines, Metadata level, ServiceAccounts only). */
export const AUDIT_LOG = join(KUBE_DIR, 'audit.log');

function auditPolicy(): string {
  const path = join(KUBE_DIR, 'audit-policy.yaml');
  writeFileSync(
    path,
    [
      'apiVersion: audit.k8s.io/v1',
      'kind: Policy',
      'omitStages: [RequestReceived]',
      'rules:',
      '  - level: None',
      '    userGroups: ["system:serviceaccounts:kube-system"]',
      '  - level: Metadata',
      '    userGroups: ["system:serviceaccounts"]',
      '  - level: None',
      '',
    ].join('\n'),
  );
  return path;
}

const daemons = {
  etcd: { pidFile: join(KUBE_DIR, 'etcd.pid'), logFile: join(KUBE_DIR, 'etcd.log') },
  apiserver: { pidFile: join(KUBE_DIR, 'kube-apiserver.pid'), logFile: join(KUBE_DIR, 'kube-apiserver.log') },
  controllerManager: {
    pidFile: join(KUBE_DIR, 'kube-controller-manager.pid'),
    logFile: join(KUBE_DIR, 'kube-controller-manager.log'),
  },
};

export function pki(): Pki {
  return ensurePki(join(KUBE_DIR, 'pki'));
}

/** GET on the apiserver as the lab admin; resolves the status code (0 when unreachable). */
export function apiserverGet(path: string): Promise<number> {
  const p = pkiPaths(join(KUBE_DIR, 'pki'));
  if (!existsSync(p.admin.cert)) return Promise.resolve(0);
  return new Promise((resolve) => {
    const req = request(
      `${APISERVER_URL}${path}`,
      { ca: readFileSync(p.ca.cert), cert: readFileSync(p.admin.cert), key: readFileSync(p.admin.key), timeout: 3000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function startControlPlane(log: (line: string) => void): Promise<void> {
  const p = pki();
  writeKubeconfig(ADMIN_KUBECONFIG, APISERVER_URL, p.ca.cert, p.admin, 'lab-admin');
  const cmKubeconfig = join(KUBE_DIR, 'controller-manager.kubeconfig');
  writeKubeconfig(cmKubeconfig, APISERVER_URL, p.ca.cert, p.controllerManager, 'system:kube-controller-manager');

  const etcd = startDaemon({
    name: 'etcd',
    command: 'etcd',
    args: [
      '--name',
      'lab',
      '--data-dir',
      join(KUBE_DIR, 'etcd'),
      '--listen-client-urls',
      `http://127.0.0.1:${PORTS.etcdClient}`,
      '--advertise-client-urls',
      `http://127.0.0.1:${PORTS.etcdClient}`,
      '--listen-peer-urls',
      `http://127.0.0.1:${PORTS.etcdPeer}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${PORTS.etcdPeer}`,
      '--initial-cluster',
      `lab=http://127.0.0.1:${PORTS.etcdPeer}`,
      '--log-level',
      'warn',
      '--logger',
      'zap',
    ],
    ...daemons.etcd,
  });
  await waitUntil(
    'etcd',
    () => httpOk(`http://127.0.0.1:${PORTS.etcdClient}/health`, (s) => s === 200),
    20_000,
    daemons.etcd,
  );
  log(`  etcd (Debian) on 127.0.0.1:${PORTS.etcdClient}: ${etcd}`);

  const started = performance.now();
  const apiserver = startDaemon({
    name: 'kube-apiserver',
    command: peerBinary('kubernetes', 'kube-apiserver'),
    args: [
      `--etcd-servers=http://127.0.0.1:${PORTS.etcdClient}`,
      `--bind-address=${NET.controlPlane.ip}`,
      `--advertise-address=${NET.controlPlane.ip}`,
      `--secure-port=${PORTS.apiserver}`,
      `--tls-cert-file=${p.apiserver.cert}`,
      `--tls-private-key-file=${p.apiserver.key}`,
      `--client-ca-file=${p.ca.cert}`,
      '--authorization-mode=RBAC',
      `--service-account-issuer=${SA_ISSUER}`,
      `--api-audiences=${SA_ISSUER}`,
      `--service-account-key-file=${p.serviceAccount.pub}`,
      `--service-account-signing-key-file=${p.serviceAccount.key}`,
      `--service-cluster-ip-range=${NET.serviceCIDR}`,
      '--allow-privileged=true',
      // The default (lease) reconciler publishes the `kubernetes` Service's EndpointSlice: the
      // control plane's node address, which the egress hold reads to keep the apiserver reachable.
      // Who did what, for least-privilege proofs: every ServiceAccount request outside kube-system.
      `--audit-policy-file=${auditPolicy()}`,
      `--audit-log-path=${AUDIT_LOG}`,
      '--audit-log-maxsize=200',
      '--audit-log-maxbackup=1',
      '--audit-log-format=json',
      '--profiling=false',
      '--v=0',
    ],
    ...daemons.apiserver,
  });
  await waitUntil('kube-apiserver', async () => (await apiserverGet('/readyz')) === 200, 90_000, daemons.apiserver);
  log(`  kube-apiserver ${APISERVER_URL}: ${apiserver} (${((performance.now() - started) / 1000).toFixed(1)} s)`);

  const cm = startDaemon({
    name: 'kube-controller-manager',
    command: peerBinary('kubernetes', 'kube-controller-manager'),
    args: [
      `--kubeconfig=${cmKubeconfig}`,
      `--authentication-kubeconfig=${cmKubeconfig}`,
      `--authorization-kubeconfig=${cmKubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${PORTS.controllerManager}`,
      '--use-service-account-credentials=true',
      `--service-account-private-key-file=${p.serviceAccount.key}`,
      `--root-ca-file=${p.ca.cert}`,
      '--leader-elect=false',
      '--controllers=*',
      '--v=0',
    ],
    ...daemons.controllerManager,
  });
  // Working, not just running: its root-CA publisher has written kube-root-ca.crt.
  await waitUntil(
    'kube-controller-manager',
    async () => (await apiserverGet('/api/v1/namespaces/default/configmaps/kube-root-ca.crt')) === 200,
    60_000,
    daemons.controllerManager,
  );
  log(`  kube-controller-manager: ${cm}`);
}

export async function stopControlPlane(): Promise<void> {
  await stopDaemon(daemons.controllerManager.pidFile);
  await stopDaemon(daemons.apiserver.pidFile);
  await stopDaemon(daemons.etcd.pidFile);
}

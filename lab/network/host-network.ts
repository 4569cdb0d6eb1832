// The lab network in the host's namespace (ADR 0015): port-less bridges carrying the peers'
// addresses (upstream "internet", Sovereign-local "cluster", the control plane's node address), one
// bridge per node for its pods, the `kubernetes` Service's address translated to the apiserver (what
// kube-proxy does), and the hook that hands every new pod connection to the NetworkPolicy
// implementation (kube-network-policies) for a verdict.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { NET, NODE_NETWORKS, NODES, PORTS } from '../topology.ts';

/** kube-network-policies reads its verdicts from this queue (its default). */
export const POLICY_QUEUE = 100;
const POLICY_CHAIN = 'LAB-NETPOL';
const SERVICES_CHAIN = 'LAB-SERVICES';
/** Where a pod's connections are judged: after the Service translation, on the way in or through. */
const POLICY_HOOKS = ['INPUT', 'FORWARD'];

function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function succeeds(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

function ensureBridge(name: string, cidr: string): void {
  if (!succeeds('ip', ['link', 'show', name])) run('ip', ['link', 'add', name, 'type', 'bridge']);
  run('ip', ['addr', 'replace', cidr, 'dev', name]);
  run('ip', ['link', 'set', name, 'up']);
}

/** A chain of `table` emptied and filled with `rules` (created if missing). */
function fillChain(table: string, chain: string, rules: string[][]): void {
  if (!succeeds('iptables', ['-t', table, '-n', '-L', chain])) run('iptables', ['-t', table, '-N', chain]);
  run('iptables', ['-t', table, '-F', chain]);
  for (const rule of rules) run('iptables', ['-t', table, '-A', chain, ...rule]);
}

function ensureJump(table: string, hook: string, rule: string[]): void {
  if (!succeeds('iptables', ['-t', table, '-C', hook, ...rule])) run('iptables', ['-t', table, '-A', hook, ...rule]);
}

function removeJump(table: string, hook: string, rule: string[]): void {
  while (succeeds('iptables', ['-t', table, '-D', hook, ...rule]));
}

/** Brings the lab network up (idempotent); NetworkPolicy is enforced unless switched off since. */
export function ensureLabNetwork(): string {
  ensureBridge(NET.internet.bridge, `${NET.internet.ip}/32`);
  ensureBridge(NET.cluster.bridge, `${NET.cluster.ip}/32`);
  ensureBridge(NET.controlPlane.bridge, `${NET.controlPlane.ip}/32`);
  for (const node of NODES) {
    const n = NODE_NETWORKS[node];
    ensureBridge(n.bridge, `${n.gateway}/24`);
    run('ip', ['addr', 'replace', `${n.address}/32`, 'dev', NET.controlPlane.bridge]);
  }
  // Pods on different nodes reach each other through the host, as through a node's routes.
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
  fillChain('nat', SERVICES_CHAIN, [
    [
      '-d',
      `${NET.kubernetesServiceIP}/32`,
      '-p',
      'tcp',
      '--dport',
      '443',
      '-j',
      'DNAT',
      '--to-destination',
      `${NET.controlPlane.ip}:${PORTS.apiserver}`,
    ],
  ]);
  ensureJump('nat', 'PREROUTING', ['-s', NET.podCIDR, '-j', SERVICES_CHAIN]);
  // The first packet of each pod connection goes to the policy queue (`nft queue` is not in this
  // kernel, so the queue is iptables' NFQUEUE); bypass: with no listener, traffic passes.
  const queue = ['-j', 'NFQUEUE', '--queue-num', String(POLICY_QUEUE), '--queue-bypass'];
  fillChain('mangle', POLICY_CHAIN, [
    ['-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'RETURN'],
    ['-s', NET.podCIDR, ...queue],
    ['-d', NET.podCIDR, ...queue],
  ]);
  return `bridges ${[NET.internet, NET.cluster, NET.controlPlane].map((b) => `${b.bridge} ${b.ip}`).join(', ')}; pods ${NODES.map((n) => `${NODE_NETWORKS[n].bridge} ${NODE_NETWORKS[n].subnet}`).join(', ')}`;
}

/** Switches NetworkPolicy enforcement: off, pod traffic is never judged (a CNI that ignores policies). */
export function setPolicyEnforcement(on: boolean): void {
  for (const hook of POLICY_HOOKS) {
    if (on) ensureJump('mangle', hook, ['-j', POLICY_CHAIN]);
    else removeJump('mangle', hook, ['-j', POLICY_CHAIN]);
  }
}

export function policyEnforced(): boolean {
  return POLICY_HOOKS.every((hook) => succeeds('iptables', ['-t', 'mangle', '-C', hook, '-j', POLICY_CHAIN]));
}

/** Removes what ensureLabNetwork made (pods' namespaces are the kubelet's; its bridges' ports go with them). */
export function removeLabNetwork(): void {
  setPolicyEnforcement(false);
  removeJump('nat', 'PREROUTING', ['-s', NET.podCIDR, '-j', SERVICES_CHAIN]);
  for (const [table, chain] of [
    ['mangle', POLICY_CHAIN],
    ['nat', SERVICES_CHAIN],
  ] as const) {
    succeeds('iptables', ['-t', table, '-F', chain]);
    succeeds('iptables', ['-t', table, '-X', chain]);
  }
  for (const bridge of [
    NET.internet.bridge,
    NET.cluster.bridge,
    NET.controlPlane.bridge,
    ...NODES.map((n) => NODE_NETWORKS[n].bridge),
  ])
    succeeds('ip', ['link', 'del', bridge]);
}

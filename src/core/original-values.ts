// The original chart's values file works unchanged (issue 18): keys of openova's chart that mean
// nothing here are taken out with a warning that says why — never rejected — and its shapes that differ
// are read in ours. Pure: the raw document in, the document the schema validates and the warnings out.
import { CutoverError } from './errors.ts';
import { VERSION } from './version.ts';

type Doc = Record<string, unknown>;
const isDoc = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keys of the original (0.1.14 and later) that mean nothing here, by dotted path (`*`: every key below). */
const MEANINGLESS: Record<string, string> = {
  'trigger.catalystAPIURL':
    'the original waited for catalyst-api before firing; here the first sovereign-admin sign-in arms the auto trigger',
  'trigger.autoWaitForAPISeconds': 'the auto trigger is armed by a sign-in, not by polling catalyst-api',
  'trigger.autoTimeoutSeconds': 'each step has its own deadline (stepTimeouts)',
  'trigger.autoHandoverWaitSeconds': 'the auto trigger is armed by a sign-in, not by a handover',
  'trigger.fireCutoverOnHandover': 'the auto trigger is armed by a sign-in, not by a handover',
  'harbor.pushProjects': 'the host table (harbor.hostProjects, or proxyProjects) decides each project',
  'harbor.mirrorProjects': 'the host table (harbor.hostProjects, or proxyProjects) decides each project',
  'egressTest.enforceCIDRBlock': 'the hold is always a default-deny NetworkPolicy with egressTest.allowCIDRs',
  'egressTest.defaultDenyEgress': 'the hold is always default-deny egress',
  'egressTest.allowIntraClusterCIDRs': 'say them in egressTest.allowCIDRs',
  'egressTest.allowProviderCIDRs': 'say them in egressTest.allowCIDRs',
  'egressTest.callHomeAssertion': 'the call-home probe always runs (egressTest.callHomeURLs)',
  'egressTest.hostKustomizationGate': 'every pivot is read back and its owner reconciled',
  'egressTest.freshPullProof': 'the fresh pull on every node always runs',
  'gateway.*': 'the API is a Service of the install; expose it as the cluster exposes others',
  'mirrorResync.*': 'the mirror health check (guard.mirrorCheckSeconds) watches the mirror',
  'gitRepositorySecretRef.*': 'step 05 mints Flux a read-only Gitea token of its own (gitea.fluxReader)',
  'giteaTokenMint.*': 'step 05 mints Flux a read-only Gitea token of its own (gitea.fluxReader)',
  'offlineMirror.*': 'the host table is harbor.hostProjects',
  'helmReadinessProbe.*': 'every HelmRelease on a pivoted source must be Ready on its generation',
  'daytwoReconciler.*': 'the controller runs the guard and the pin intake (guard.*, intake.*)',
  'secondaryRegions.*': 'one install per cluster',
  'imageRegistryPivot.*': 'step 04 pivots every node (registryPivot.*)',
  'crossplaneProviderPivot.*': 'Crossplane provider packages are inventoried and prewarmed with the rest',
};

function remove(doc: Doc, path: string[]): boolean {
  const [head, ...rest] = path;
  if (head === undefined || !(head in doc)) return false;
  if (!rest.length) return delete doc[head];
  const child = doc[head];
  if (!isDoc(child)) return false;
  const removed = remove(child, rest);
  if (removed && !Object.keys(child).length) delete doc[head];
  return removed;
}

/**
 * Reads an original-shaped values document into ours. Returns the warnings, one per key taken out.
 * Throws CutoverError 'invalid-values' for an original setting this cutover cannot honour.
 */
export function adoptOriginalValues(raw: unknown, source: string): string[] {
  if (!isDoc(raw)) return [];
  const warnings: string[] = [];
  for (const [key, why] of Object.entries(MEANINGLESS)) {
    const path = key.replace(/\.\*$/, '').split('.');
    if (remove(raw, path)) warnings.push(`${source}: ${key.replace(/\.\*$/, '')} means nothing here (${why}): ignored`);
  }
  // The original's helper images (kubectl, git, curl, hostExec) as `{repository, tag}`: one image runs here.
  const images = raw.images;
  if (isDoc(images)) {
    for (const [name, image] of Object.entries(images)) {
      if (name === 'cutover') {
        // YAML reads `tag: 1.2` as a number: the tag is its text. No tag: this program's own version.
        if (isDoc(image) && typeof image.repository === 'string')
          images.cutover = `${image.repository}:${image.tag === undefined ? VERSION : String(image.tag)}`;
        continue;
      }
      delete images[name];
      warnings.push(
        `${source}: images.${name} means nothing here (one image, images.cutover, runs every part): ignored`,
      );
    }
    if (!Object.keys(images).length) delete raw.images;
  }
  // registryPivot.enabled: true is what happens; false would leave the nodes on upstream and the proof failing.
  const pivot = raw.registryPivot;
  if (isDoc(pivot) && 'enabled' in pivot) {
    if (pivot.enabled === false)
      throw new CutoverError(
        'invalid-values',
        `${source} is invalid:\n  registryPivot.enabled: false cannot be honoured: a node that still pulls from upstream fails the egress proof (step 08); remove the key`,
      );
    delete pivot.enabled;
    if (!Object.keys(pivot).length) delete raw.registryPivot;
  }
  return warnings;
}

// What `cutover --help` and `cutover <command> --help` say beyond the usage and options the parser
// prints: what a command does, what its output means, its exit codes.

export const ABOUT = `
A Sovereign is handed over still tethered: Flux pulls Git from GitHub and Helm charts from
oci://ghcr.io/…, and nodes pull images through a vendor Harbor. The cutover mirrors Git into the
cluster's own Gitea, fills its own Harbor with every artifact in use, pivots containerd on every
node and every Flux source, then proves the cluster keeps working with upstream egress blocked.

Exit codes: 0 done, 1 a step or peer failed, 2 bad usage or invalid values, 3 a cutover is already in progress.

Try it on the embedded lab:  npm run demo
Run the tests:               npm test
`;

/** `cutover <command> --help`: the prose after the options. */
export const COMMAND_HELP: Record<string, string> = {
  chart: `
Writes the install as a Helm chart (ADR 0023), generated from the renderer: helm template equals
cutover render for the same values. Each values key is probed by rendering and sorted:
  runtime    never changes an object; it reaches the pods through the values ConfigMap, so a
             HelmRelease may set it freely (the trigger, the egress proof, prewarm, timeouts, …)
  templated  copied into the objects (images, the FQDN, Secret names, the API port, …): the chart
             prints it from .Values
  pinned     shapes the objects (Flux namespaces, the host table, TLS CAs, the OIDC issuer, …): the
             chart holds the value of -f and refuses another, naming the key
The summary on stderr lists the pinned keys. Then: helm package DIR && helm push <tgz> oci://…
The chart's own key createNamespace: false leaves the release namespace to Helm or Flux.
`,
  tethers: `
Every reference to an upstream host in the live cluster: images of Pods and every workload
template (scaled to zero and suspended ones too; init, ephemeral containers, image volumes), Flux
Git/Helm/OCI/Bucket sources, HelmCharts and HelmReleases, Crossplane Provider packages,
dockerconfigjson pull Secrets, env vars and ConfigMap values naming an upstream URL, and each
node's registry routes as its node agent reports them. Images are normalised
(nginx → docker.io/library/nginx:latest) and tags resolved to digests.

Each row: STATE, KIND, OBJECT, FIELD (path in the object), UPSTREAM, LOCAL (where
harbor.hostProjects sends it). States:
  tethered   still points upstream; the cutover will pivot it
  unmapped   points at a host harbor.hostProjects does not map: nothing would serve it after the
             pivot (add a row for the host, or exempt it)
  pivoted    already local (listed with --all only)
  exempt     kept on purpose, with the reason — a Deployment's rollout history, or a rule in values:
               tethers:
                 exempt:
                   - kind: pull-secret          # optional; one of the KIND values
                     object: "Secret flux-system/*"   # optional; * is a wildcard
                     upstream: "ghcr.io*"       # optional
                     reason: upstream credentials stay until the operator retires them
Before the cutover the table shows what is tethered; after it, only exempt rows remain.

Credentials never appear: pull Secrets show their host only, URLs show user:password as ***.
Exit codes: 0 listed; 1 a source could not be read (the list is printed but incomplete) or the
cluster failed; 2 bad usage or invalid values.
`,
  prewarm: `
Step 03 on its own: every artifact the cluster uses from an upstream host (images with every
platform of an index, OCI Helm charts, Crossplane provider packages, values prewarm.images and the
cutover's own image) copied into the local Harbor project its host maps to, digests preserved;
proxy-mode hosts are pulled through their proxy-cache project. Exempt tethers are not copied.
Blobs stream (memory does not grow with their size), shared blobs are mounted, what is present
is skipped, transient failures are retried with backoff; a killed run is resumed by the next.
At the end every artifact is checked by digest: any miss fails, while egress is still open.

A progress bar is drawn on a terminal; otherwise one line per event. Runs until done or until
stepTimeouts.harborPrewarmSeconds.

Exit codes: 0 every artifact verified; 1 an artifact failed, a reference points at a host the
table does not map, or the inventory could not read a source; 2 bad usage or invalid values.
`,
  intake: `
After the cutover, \`cutover serve\` reads every new revision of the Git mirror and lists what it
pins (images, chart versions, OCI artifacts). With intake.mode: request nothing is copied from
upstream and Flux stays on the last approved revision until an operator approves the new one:
\`cutover status\` shows it as "awaiting approval" with each pin the local Harbor lacks.

approve opens a delivery window for that revision (intake.windowSeconds, 900 by default): the
next look of \`cutover serve\` copies its pins into the local Harbor, by digest, every platform,
and lets Flux onto it once all are local. Who approved (your Kubernetes identity), when, what was
copied and how long the window was open are recorded in the status ConfigMap (intakeWindow) and as
Kubernetes Events on it (kubectl events -n NS). A window that closes before every pin is local
(upstream unreachable: "expired") leaves Flux where it was; approve again once upstream is back.

Exit codes: 0 approved (or already open); 1 nothing pending, not request mode, or the cluster
failed; 2 bad usage.
`,
  rollback: `
Undoes the cutover from its journal: every change a step made was recorded before it was made
(object, field, value before, value after; \`cutover journal\` lists them). Works from any state:
a completed cutover, a run failed at any step, a run that was killed.

In order: what a killed step left behind goes (the egress hold, canary pods); the cutover's entries
leave every Kustomization's spec.patches and HelmRelease's post-renderers, and Flux re-applies Git;
every journaled field gets back its value from before the cutover (Flux sources, the catalyst-api
env, annotations); pull Secrets lose the local Harbor credentials the cutover added; every node's
agent restores the node's own containerd hosts.toml and acknowledges; what the cutover created
(Secrets, the node agent when the cutover deployed it) is deleted. Everything is read back and
repaired until it holds. The local Harbor's and Gitea's content stays unless --purge:
then the Gitea mirror (and its org) and the Harbor projects the cutover created are deleted too.

It first prints the API server, context and namespace, and every change it will make; on a terminal
it asks before changing anything (--yes for scripts). It holds the single-flight Lease: it refuses
while a run is in progress (abort it first). The status ConfigMap records who rolled back and when,
and is reset: a later \`cutover run\` starts clean.

Exit codes: 0 rolled back; 1 not confirmed, or something did not hold (it says what; run it again);
3 a cutover is in progress.
`,
};

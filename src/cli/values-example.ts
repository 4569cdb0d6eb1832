// `cutover values --example`: a commented values file to start from. The unit test parses it and
// validates it against `cutover values --schema`, so it cannot drift from the parser.
export const VALUES_EXAMPLE = `# sovereign-cutover values. The keys of openova's bp-self-sovereign-cutover chart are accepted as they
# are (keys that mean nothing here are ignored with a warning). Only sovereign.* and upstream.repoURL
# are required; everything else shows its default.
sovereign:
  fqdn: example.local
  harborInternalURL: http://harbor-core.harbor.svc.cluster.local   # the runner's way to the local Harbor
  harborPublicURL: https://registry.example.local                  # what nodes and Flux pull from
  giteaInternalURL: http://gitea-http.gitea.svc.cluster.local:3000
  giteaPublicURL: https://gitea.example.local

upstream:
  repoURL: https://github.com/openova-io/openova   # the Git repository Flux follows today
  branch: main
  mirrorInterval: 10m0s                            # Gitea's pull-mirror interval
  mothershipHarborURL: https://harbor.openova.io   # the vendor Harbor nodes pull through today (a tether too)
  credentialsSecretRef: { name: "", namespace: "" } # a private upstream: a Secret with username/password

gitea:
  org: openova
  repo: openova
  adminSecretRef: { name: gitea-admin-secret, namespace: gitea, usernameKey: username, passwordKey: password }
  fluxReader: sovereign-cutover-flux   # Flux reads the mirror as this user, with a read-only token

harbor:
  adminSecretRef:
    { name: harbor-admin, namespace: harbor, usernameKey: HARBOR_ADMIN_USERNAME, passwordKey: HARBOR_ADMIN_PASSWORD }
  ghcrSecretRef: { name: ghcr-pull, namespace: flux-system, dockerConfigKey: .dockerconfigjson }   # the pull Secret
  pullRobot: sovereign-cutover-pull    # the pull Secret gets this robot (pull only), never the admin
  mothershipAuthsToStrip: []           # hosts taken out of the pull Secret after the pull proof (every upstream is)
  defaultMode: mirror                  # mirror: copied by digest into a project; proxy: a proxy-cache project
  # One row per upstream registry host (or proxyProjects, the original's shape, read into this table):
  hostProjects:
    - { host: ghcr.io, project: ghcr, upstreamURL: https://ghcr.io, registryType: github-ghcr, authMode: credential }
    - { host: docker.io, project: dockerhub, upstreamURL: https://registry-1.docker.io, registryType: docker-hub }

prewarm:
  images: []                           # images to copy besides every one the cluster uses

gitopsRepository: { name: openova, namespace: flux-system }
helmRepositories:
  namespace: flux-system
  upstreamPrefix: oci://ghcr.io/openova-io
  names: []                            # HelmRepositories (in the namespace above) to pivot besides those under the prefix
flux:
  namespaces: []                       # further namespaces whose Flux sources may be pivoted (RBAC follows)
catalystAPI: { deploymentName: catalyst-api, namespace: catalyst-system, envVar: CATALYST_GITOPS_REPO_URL }

egressTest:
  durationSeconds: 600                 # how long nothing may become NotReady under the hold
  blockedDomains: []                   # empty: every upstream host the values name
  callHomeURLs: []                     # empty: https://<each blocked domain>/

status:
  configMapName: self-sovereign-cutover-status

trigger:
  auto: false                          # true: the first sovereign-admin sign-in arms it; it fires after the delay
  autoDelaySeconds: 60

auth:
  oidc:
    issuerURL: ""                      # the identity provider; sign-in is on once it is set
    clientID: sovereign-cutover
    adminGroup: sovereign-admins       # who may start, abort and roll back
  inventoryGroups: []                  # who else may read the tether inventory

guard:
  periodSeconds: 15                    # re-verify and repair the complete cutover (0: off)

intake:
  mode: auto                           # auto | request (an operator approves each new revision) | off
`;

// Which hosts are upstream and which are local, from values, and the tethers a URL makes: the
// matching every tether source shares. Pure.
import { redactUrl, withoutCredentials } from '../core/errors.ts';
import type { Tether, TetherKind } from '../core/tether.ts';
import type { HostProject, Values } from '../core/values.ts';

export interface UpstreamHosts {
  /** Hosts a reference to is a tether: the host table's, the upstream Git and Harbor, blocked domains. */
  upstream: Set<string>;
  /** The local Harbor's and Gitea's hosts (internal and public): a reference to them is no tether. */
  local: Set<string>;
  rows: HostProject[];
  /** The local Harbor's public host, where the host table sends images and charts. */
  harbor: string;
  /** The upstream Git repository and its mirror in the local Gitea. */
  repoURL: string;
  mirrorURL: string;
}

export function upstreamHosts(values: Values): UpstreamHosts {
  const host = (url: string) => (url ? new URL(url).host : '');
  const upstream = new Set<string>(values.harbor.hostProjects.map((r) => r.host));
  for (const url of [
    values.upstream.repoURL,
    values.upstream.mothershipHarborURL,
    values.helmRepositories.upstreamPrefix.replace(/^oci:\/\//, 'https://'),
  ])
    if (url) upstream.add(host(url));
  for (const d of values.egressTest.blockedDomains) upstream.add(d);
  const local = new Set(
    [
      host(values.sovereign.harborInternalURL),
      host(values.sovereign.harborPublicURL),
      host(values.sovereign.giteaInternalURL),
      host(values.sovereign.giteaPublicURL),
    ].filter(Boolean),
  );
  for (const h of local) upstream.delete(h);
  return {
    upstream,
    local,
    rows: values.harbor.hostProjects,
    harbor: host(values.sovereign.harborPublicURL),
    repoURL: values.upstream.repoURL,
    mirrorURL: `${values.sovereign.giteaInternalURL.replace(/\/+$/, '')}/${values.gitea.org}/${values.gitea.repo}`,
  };
}

/** Upstream URLs in free text (env values, ConfigMap data): scheme://host… of a configured upstream host. */
export function upstreamURLs(text: string, hosts: UpstreamHosts): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/\b(?:https?|oci|git|ssh):\/\/(?:[^@/\s"']+@)?([^/\s"':]+(?::\d+)?)[^\s"'<>]*/g)) {
    if (hosts.upstream.has(m[1] as string)) found.push(m[0]);
  }
  return found;
}

/**
 * Where the host table sends a URL: the upstream Git repository to its Gitea mirror, a mapped
 * registry host to its Harbor project (as `oci://`); '' when nothing maps it. Credentials in the
 * URL are ignored.
 */
export function localTarget(withCredentials: string, hosts: UpstreamHosts): string {
  const url = withoutCredentials(withCredentials);
  if (url.replace(/\.git$/, '') === hosts.repoURL.replace(/\.git$/, '')) return hosts.mirrorURL;
  const m = /^(oci|https?):\/\/([^/]+)\/?(.*)$/.exec(url);
  const row = m ? hosts.rows.find((r) => r.host === m[2]) : undefined;
  return row && m ? `oci://${hosts.harbor}/${row.project}${m[3] ? `/${m[3]}` : ''}` : '';
}

/**
 * A URL that names an upstream host, with its local target. Credentials in the URL
 * (`https://user:token@github.com/…`) never reach a row: shown as `***`, ignored for the map.
 */
export function urlTether(
  hosts: UpstreamHosts,
  kind: TetherKind,
  object: string,
  field: string,
  url: string,
  exempt?: string,
): Tether {
  return {
    kind,
    object,
    field,
    upstream: redactUrl(url),
    local: localTarget(url, hosts),
    state: exempt ? 'exempt' : 'tethered',
    ...(exempt ? { reason: exempt } : {}),
  };
}

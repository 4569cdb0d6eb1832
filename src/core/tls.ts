// What the values' `tls` says about one host, for what runs elsewhere and cannot share this
// process's trust: nodes (hosts.toml `ca`, `skip_verify`) and Flux (a `certSecretRef` Secret's `ca.crt`).
import type { Values } from './values.ts';

export interface HostTls {
  /** PEM: the global bundle and the host's own, '' when neither is set. */
  caBundle: string;
  insecureSkipVerify: boolean;
}

/** `host` as URLs name it (`host:port` when not the default port). */
export function hostTls(tls: Values['tls'], host: string): HostTls {
  const row = tls.hosts.find((h) => h.host === host);
  const caBundle = [tls.caBundle, row?.caBundle ?? '']
    .map((b) => b.trim())
    .filter(Boolean)
    .join('\n');
  return { caBundle: caBundle ? `${caBundle}\n` : '', insecureSkipVerify: row?.insecureSkipVerify ?? false };
}

// Server-side apply: declare the whole object, let the API server merge; re-applying the same
// object changes nothing.
import { request } from 'node:https';
import { KubernetesObjectApi, PatchStrategy, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { PeerError } from '../../core/errors.ts';
import { KUBE_CALL_TIMEOUT_MS, kubeError, withDeadline } from './cluster.ts';

/**
 * `dryRun`: the apiserver validates and admits everything but persists nothing (`dryRun=All`).
 * `force: false`: a field another manager owns with another value is a 409 conflict, not taken over.
 */
export async function serverSideApply(
  config: KubeConfig,
  objects: KubernetesObject[],
  fieldManager: string,
  options: { dryRun?: boolean; force?: boolean } = {},
): Promise<void> {
  const api = new KubernetesObjectApi(withDeadline(config, KUBE_CALL_TIMEOUT_MS));
  for (const object of objects) {
    if (object.kind === 'CustomResourceDefinition') {
      // client-node re-serialises built-in types through its models, which renames JSON-schema keys
      // (`default`, `x-kubernetes-*`, `$ref`) and so drops them; a CRD goes to the API server as written.
      await applyRaw(
        config,
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${object.metadata?.name}`,
        object,
        fieldManager,
        options.dryRun ?? false,
      );
      continue;
    }
    try {
      await api.patch(
        object,
        undefined,
        options.dryRun ? 'All' : undefined,
        fieldManager,
        options.force ?? true,
        PatchStrategy.ServerSideApply,
      );
    } catch (error) {
      throw kubeError('APPLY', `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name}`, error);
    }
  }
}

async function applyRaw(
  config: KubeConfig,
  path: string,
  object: KubernetesObject,
  fieldManager: string,
  dryRun: boolean,
): Promise<void> {
  const server = config.getCurrentCluster()?.server ?? '';
  const url = new URL(
    `${path}?fieldManager=${encodeURIComponent(fieldManager)}&force=true${dryRun ? '&dryRun=All' : ''}`,
    server,
  );
  const options: Parameters<typeof request>[1] & { headers: Record<string, string> } = {
    method: 'PATCH',
    headers: { 'content-type': PatchStrategy.ServerSideApply, accept: 'application/json' },
    timeout: KUBE_CALL_TIMEOUT_MS,
  };
  await config.applyToHTTPSOptions(options);
  const body = JSON.stringify(object);
  await new Promise<void>((resolve, reject) => {
    const req = request(url, options, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () =>
        res.statusCode === 200 || res.statusCode === 201
          ? resolve()
          : reject(new PeerError('APPLY', url.toString(), res.statusCode ?? 0, text)),
      );
    });
    req.on('error', (error) => reject(new PeerError('APPLY', url.toString(), 0, error.message, { cause: error })));
    req.on('timeout', () => req.destroy(new Error(`no answer within ${KUBE_CALL_TIMEOUT_MS / 1000} s`)));
    req.end(body);
  });
}

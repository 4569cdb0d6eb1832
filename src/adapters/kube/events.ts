// Kubernetes Events (events.k8s.io/v1) about the status ConfigMap: one per decision the guard takes
// after the cutover (pins copied, a revision held or let on, an approval, a window closed), so
// `kubectl events`, event exporters and alerting see them beside the cluster's own.
import { kubeError, microTime, type KubeCluster } from './cluster.ts';

export const REPORTING_CONTROLLER = 'sovereign-cutover.openova.io/guard';

export interface Decision {
  /** UpperCamelCase, as Kubernetes reasons are: PinsCopied, RevisionHeld, RevisionVerified, … */
  reason: string;
  /** What was done about it (the Event's `action`): Copy, Hold, LetOn, Approve, CloseWindow. */
  action: string;
  note: string;
  type: 'Normal' | 'Warning';
}

/** Records one decision as an Event regarding the status ConfigMap; the note is cut to the API's 1 KiB. */
export async function recordDecision(
  cluster: KubeCluster,
  namespace: string,
  configMapName: string,
  instance: string,
  d: Decision,
): Promise<void> {
  await cluster.events
    .createNamespacedEvent({
      namespace,
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        // Named as client-go's recorder names them: the object, a dot, the time in hex (generateName may not end in '.').
        metadata: {
          name: `${configMapName}.${(Date.now() * 1000 + Math.floor(Math.random() * 1000)).toString(16)}`,
          namespace,
        },
        // A MicroTime typed as a Date by the client, which would send three digits: a string goes as it is.
        eventTime: microTime(new Date()) as unknown as Date,
        reportingController: REPORTING_CONTROLLER,
        reportingInstance: instance.slice(0, 128),
        action: d.action,
        reason: d.reason,
        note: d.note.slice(0, 1024),
        type: d.type,
        regarding: { apiVersion: 'v1', kind: 'ConfigMap', name: configMapName, namespace },
      },
    })
    .catch((error: unknown) => {
      throw kubeError('POST', `events/${namespace}`, error);
    });
}

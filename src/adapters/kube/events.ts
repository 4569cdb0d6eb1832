// Kubernetes Events (events.k8s.io/v1) about the status ConfigMap: one per decision the guard takes
// after the cutover (pins copied, a revision held or let on, an approval, a window closed), so
// `kubectl events`, event exporters and alerting see them beside the cluster's own.
import type { KubeCluster } from './cluster.ts';
import { kubeError } from './cluster.ts';

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
        eventTime: microTime(new Date()),
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

/**
 * A MicroTime as the apiserver parses it (six fractional digits). The client types it as a Date but
 * would send a Date's three digits, which the apiserver refuses; a string is sent as it is.
 */
function microTime(at: Date): Date {
  return at.toISOString().replace(/Z$/, '000Z') as unknown as Date;
}

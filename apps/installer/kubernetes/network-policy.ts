import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { DesiredDeployment } from '../deployer.port';
import { LABELS, MANAGED_BY, installationLabels, serviceName } from './kubernetes-manifests';

/** Where the control plane's API runs, the one destination a runtime needs besides DNS. */
export interface ApiEndpoint {
  namespace: string;
  port: number;
  /** Labels of the API's pods (deploy/kubernetes/api.yaml). */
  podLabels: Record<string, string>;
}

export const DEFAULT_API_POD_LABELS = { 'app.kubernetes.io/name': 'provider-store', 'app.kubernetes.io/component': 'api' };

const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/**
 * One NetworkPolicy per installation, over all its generations: its pods may reach the API (register,
 * heartbeat, download the wheel) and the cluster DNS, nothing else; they accept traffic from anything
 * that is not another runtime (the platform calls them through their Service), so one tenant's
 * runtime cannot reach another's.
 */
export function networkPolicyManifest(d: DesiredDeployment, namespace: string, api: ApiEndpoint): V1NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: serviceName(d), namespace, labels: installationLabels(d) },
    spec: {
      podSelector: { matchLabels: { [LABELS.installationId]: d.installationId } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          // `_from`: the client's name for `from` (a reserved word in its generator), serialised as `from`.
          _from: [
            // Same namespace: every pod but the runtimes (`NotIn` also matches pods without the label).
            { podSelector: { matchExpressions: [{ key: LABELS.managedBy, operator: 'NotIn', values: [MANAGED_BY] }] } },
            { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: api.namespace } }, podSelector: { matchLabels: api.podLabels } },
          ],
        },
      ],
      egress: [
        {
          to: [{ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: api.namespace } }, podSelector: { matchLabels: api.podLabels } }],
          ports: [{ protocol: 'TCP', port: api.port }],
        },
        {
          to: [{ namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    },
  };
}

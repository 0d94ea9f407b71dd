import type { V1LabelSelector, V1NetworkPolicy, V1NetworkPolicyEgressRule, V1NetworkPolicyPeer } from '@kubernetes/client-node';
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
 * The NetworkPolicy as the API server reads it. Not the client's V1NetworkPolicy: that names an
 * ingress rule's `from` `_from`, which only its serialiser renames, and a server-side apply body is
 * sent as written (the API server would drop `_from` and leave ingress open to no one or everyone).
 */
export type NetworkPolicyManifest = Omit<V1NetworkPolicy, 'spec'> & {
  spec: {
    podSelector: V1LabelSelector;
    policyTypes: string[];
    ingress: Array<{ from: V1NetworkPolicyPeer[] }>;
    egress: V1NetworkPolicyEgressRule[];
  };
};

/**
 * One NetworkPolicy per installation, over all its generations: its pods may reach the API (register,
 * heartbeat, download the wheel) and the cluster DNS, nothing else; they accept traffic from anything
 * that is not another runtime (the platform calls them through their Service), so one tenant's
 * runtime cannot reach another's.
 */
export function networkPolicyManifest(d: DesiredDeployment, namespace: string, api: ApiEndpoint): NetworkPolicyManifest {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: serviceName(d), namespace, labels: installationLabels(d) },
    spec: {
      podSelector: { matchLabels: { [LABELS.installationId]: d.installationId } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {
          from: [
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

import { CatalogMetadata, ResourceSchema } from './provider.events';
import { ProviderId } from './provider-identity';

/** Who asks: the organisation of the API key and whether it may act for the platform. */
export interface Publisher {
  organizationId: string;
  platformAdmin: boolean;
}

export type PublishVersion = {
  type: 'PublishVersion';
  provider: ProviderId;
  publisher: Publisher;
  version: string;
  runtimeVersion: string;
  wheelUrl: string;
  wheelSha256: string | null;
  packageName: string | null;
  entrypoint: string[] | null;
  schemas: ResourceSchema[];
  configSchema: Record<string, unknown> | null;
  outputsSchema: Record<string, unknown> | null;
  changelog: string | null;
  /** A validated OCI image reference, or absent/null for the configured runtime image. */
  runtimeImage?: string | null;
  metadata: CatalogMetadata | null;
  now: string;
};

export type YankVersion = {
  type: 'YankVersion';
  provider: ProviderId;
  publisher: Publisher;
  version: string;
  reason: string | null;
  now: string;
};

export type UpdateMetadata = {
  type: 'UpdateMetadata';
  provider: ProviderId;
  publisher: Publisher;
  changes: CatalogMetadata;
  now: string;
};

export type DeleteProvider = {
  type: 'DeleteProvider';
  provider: ProviderId;
  publisher: Publisher;
  now: string;
};

/** A version whose wheel was uploaded and stored: it starts `building` until validation decides. */
export type PublishUploadedVersion = Omit<PublishVersion, 'type' | 'wheelSha256'> & {
  type: 'PublishUploadedVersion';
  wheelSha256: string;
  wheelFilename: string;
  wheelSize: number;
};

/** Validation's verdict on an uploaded wheel. */
export type BuildResult = { ok: true; packageName: string | null } | { ok: false; errorMessage: string };

export type CompleteBuild = {
  type: 'CompleteBuild';
  provider: ProviderId;
  version: string;
  result: BuildResult;
  now: string;
};

export type ProviderCommand = PublishVersion | YankVersion | UpdateMetadata | DeleteProvider | PublishUploadedVersion | CompleteBuild;

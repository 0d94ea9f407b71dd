export type VersionStatus = 'building' | 'published' | 'failed' | 'yanked';

/** One resource type's schema, as the response's `schemas` list carries it. */
export interface ResourceSchema {
  resource_type: string;
  schema: Record<string, unknown>;
}

/** `tenant`: private to the owning organisation (listed, read and installed by it alone). */
export type ProviderScope = 'public' | 'tenant';
export const PROVIDER_SCOPES: readonly ProviderScope[] = ['public', 'tenant'];

export interface CatalogMetadata {
  /** Absent in events written before providers could be private: those are public. */
  scope?: ProviderScope;
  display_name?: string | null;
  description?: string | null;
  icon_url?: string | null;
  readme?: string | null;
  tags?: string[] | null;
}

export interface ProviderVersionPublishedData {
  prefix: string;
  name: string;
  version: string;
  publisher_org: string;
  runtime_version: string;
  wheel_url: string;
  wheel_sha256: string | null;
  package_name: string | null;
  entrypoint: string[] | null;
  schemas: ResourceSchema[];
  config_schema: Record<string, unknown> | null;
  outputs_schema: Record<string, unknown> | null;
  changelog: string | null;
  /** OCI image the Kubernetes deployer runs instead of the configured runtime image; absent when none was given. */
  runtime_image?: string;
  status: VersionStatus;
  published_at: string | null;
  at: string;
}

export type ProviderVersionPublished = { type: 'ProviderVersionPublished'; data: ProviderVersionPublishedData };
export type ProviderVersionYanked = {
  type: 'ProviderVersionYanked';
  data: { prefix: string; name: string; version: string; reason: string | null; at: string };
};
export type ProviderMetadataUpdated = {
  type: 'ProviderMetadataUpdated';
  data: { prefix: string; name: string; changes: CatalogMetadata; at: string };
};
export type ProviderDeleted = { type: 'ProviderDeleted'; data: { prefix: string; name: string; at: string } };

/** A wheel was uploaded and stored for a version (which is `building`): what validation reads. */
export type ProviderVersionUploaded = {
  type: 'ProviderVersionUploaded';
  data: { prefix: string; name: string; version: string; wheel_filename: string; wheel_sha256: string; wheel_size: number; at: string };
};
/** An uploaded wheel passed validation: the version is `published` from here on. */
export type ProviderVersionBuildSucceeded = {
  type: 'ProviderVersionBuildSucceeded';
  data: { prefix: string; name: string; version: string; package_name: string | null; at: string };
};
/** An uploaded wheel failed validation: the version is `failed`, `error_message` names the problem. */
export type ProviderVersionBuildFailed = {
  type: 'ProviderVersionBuildFailed';
  data: { prefix: string; name: string; version: string; error_message: string; at: string };
};

export type ProviderEvent =
  | ProviderVersionPublished
  | ProviderVersionYanked
  | ProviderMetadataUpdated
  | ProviderDeleted
  | ProviderVersionBuildSucceeded
  | ProviderVersionBuildFailed
  | ProviderVersionUploaded;

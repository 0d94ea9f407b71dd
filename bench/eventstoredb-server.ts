import { Metadata, credentials } from '@grpc/grpc-js';
import { ServerFeaturesClient } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_grpc_pb';
import { Empty } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb';

export interface EventStoreDbServer {
  /** The version the server reports (`ServerFeatures.GetSupportedMethods`), or `unknown`. */
  version: string;
  /** The in-process gRPC test double (test/support/eventstoredb-test-double) says so in its version. */
  isTestDouble: boolean;
  /** Goes into every EventStoreDB result's parameters, so no one mistakes the double's figures for EventStoreDB's. */
  note: string;
}

/**
 * Asks the server at EVENTSTORE_URL which version it is, the question the client itself asks before
 * its first append. Only a single insecure node (`tls=false`) is asked; for anything else the
 * version stays `unknown`.
 */
export async function describeEventStoreDbServer(connectionString: string): Promise<EventStoreDbServer> {
  const version = await askVersion(connectionString).catch(() => 'unknown');
  const isTestDouble = version.includes('test-double');
  return {
    version,
    isTestDouble,
    note: isTestDouble
      ? 'measured on the gRPC TEST DOUBLE of EventStoreDB (test/support/eventstoredb-test-double, an in-memory log in Node.js): these figures are the double’s, not EventStoreDB figures; only the output shape means something'
      : `measured on the EventStoreDB server at EVENTSTORE_URL (version ${version})`,
  };
}

function askVersion(connectionString: string): Promise<string> {
  const url = new URL(connectionString);
  if (url.searchParams.get('tls') !== 'false' || url.hostname.includes(',')) return Promise.resolve('unknown');
  const client = new ServerFeaturesClient(`${url.hostname}:${url.port || 2113}`, credentials.createInsecure());
  return new Promise<string>((resolve, reject) => {
    client.getSupportedMethods(new Empty(), new Metadata(), { deadline: Date.now() + 5_000 }, (error, response) => {
      client.close();
      if (error) reject(error);
      else resolve(response.getEventStoreServerVersion() || 'unknown');
    });
  });
}

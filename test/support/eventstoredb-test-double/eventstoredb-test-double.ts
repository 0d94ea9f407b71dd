import { Server, ServerCredentials } from '@grpc/grpc-js';
import { IServerFeaturesServer, ServerFeaturesService } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_grpc_pb';
import { SupportedMethod, SupportedMethods } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/serverfeatures_pb';
import { StreamsService as StreamsServiceDefinition } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_grpc_pb';
import { InMemoryLog } from './in-memory-log';
import { StreamsService } from './streams-service';

export interface EventStoreDbTestDoubleOptions {
  /**
   * Offer Streams.BatchAppend, which the client then uses for every append, as servers since 21.10
   * do. Off, the client falls back to Streams.Append, as against older servers. Default: on.
   */
  readonly batchAppend?: boolean;
  /**
   * Answer a retried append whose events are already in place with the original result, as the
   * server does. Off is a fault mode no real server has for exact expectations: the retry is judged
   * by its expected revision alone, which exercises a client's own replay detection. Default: on.
   */
  readonly idempotentWrites?: boolean;
}

/** What the double tells connecting clients it is. */
const SERVER_VERSION = '24.10.0-test-double';

/**
 * A TEST DOUBLE of a single insecure EventStoreDB node: an in-process gRPC server speaking the
 * protocol `@kurrent/kurrentdb-client` uses for streams, over an in-memory log. What it covers and what
 * it does not is in README.md beside this file.
 */
export class EventStoreDbTestDouble {
  private readonly log: InMemoryLog;
  private readonly streams: StreamsService;
  private readonly batchAppend: boolean;
  private server?: Server;
  private port = 0;

  constructor(options: EventStoreDbTestDoubleOptions = {}) {
    this.batchAppend = options.batchAppend ?? true;
    this.log = new InMemoryLog({ idempotentWrites: options.idempotentWrites ?? true });
    this.streams = new StreamsService(this.log, { batchAppend: this.batchAppend });
    // A real node's log is never empty of its own events: readers must step over them.
    this.log.appendSystemEvent('$epoch-information', '$epoch-information');
  }

  /** Listens on a free port of 127.0.0.1; after `stop()`, on the same port again, with the same log. */
  async start(): Promise<{ connectionString: string }> {
    if (this.server) throw new Error('the test double is already started');
    const server = new Server();
    server.addService(StreamsServiceDefinition, this.streams.implementation);
    const serverFeatures: IServerFeaturesServer = {
      getSupportedMethods: (_call, callback) => callback(null, this.supportedMethods()),
    };
    server.addService(ServerFeaturesService, serverFeatures);
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${this.port}`, ServerCredentials.createInsecure(), (error, boundPort) =>
        error ? reject(error) : resolve(boundPort),
      ),
    );
    this.server = server;
    return { connectionString: `kurrentdb://127.0.0.1:${this.port}?tls=false` };
  }

  /** Goes away as a node shutting down: subscriptions end with UNAVAILABLE, later calls find nothing listening. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.streams.closeSubscriptions();
    // Lets the subscriptions' UNAVAILABLE statuses go out before the connections are cut.
    await new Promise((resolve) => setImmediate(resolve));
    server.forceShutdown();
  }

  /** Writes an event of the server's own, as statistics, scavenges and projections do. */
  appendSystemEvent(streamName: string, type: string): void {
    if (!type.startsWith('$')) throw new Error(`system event types start with $: ${type}`);
    this.log.appendSystemEvent(streamName, type);
  }

  private supportedMethods(): SupportedMethods {
    const methods: { path: string }[] = [
      StreamsServiceDefinition.read,
      StreamsServiceDefinition.append,
      ServerFeaturesService.getSupportedMethods,
    ];
    if (this.batchAppend) methods.push(StreamsServiceDefinition.batchAppend);
    return new SupportedMethods().setEventStoreServerVersion(SERVER_VERSION).setMethodsList(methods.map(toSupportedMethod));
  }
}

function toSupportedMethod(definition: { path: string }): SupportedMethod {
  const [, serviceName, methodName] = definition.path.split('/');
  return new SupportedMethod().setServiceName(serviceName.toLowerCase()).setMethodName(methodName.toLowerCase());
}

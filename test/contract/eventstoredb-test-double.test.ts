import { EventStoreDbEventStore } from '../../libs/event-store/eventstoredb/eventstoredb-event-store';
import { EventStoreDbTestDouble, EventStoreDbTestDoubleOptions } from '../support/eventstoredb-test-double/eventstoredb-test-double';
import { ContractTarget, eventStoreContract } from './event-store.contract';

async function onTestDouble(options: EventStoreDbTestDoubleOptions): Promise<ContractTarget> {
  const server = new EventStoreDbTestDouble(options);
  const { connectionString } = await server.start();
  const store = new EventStoreDbEventStore(connectionString);
  return {
    store,
    teardown: async () => {
      await store.close();
      await server.stop();
    },
  };
}

// As a current server: every append goes through BatchAppend, retries are recognised by the server.
eventStoreContract('EventStoreDB adapter via gRPC test double', () => onTestDouble({}));

// The other append path (Streams.Append), with the server recognising no retry, so that the
// adapter's own replay detection is what keeps retries from failing.
eventStoreContract('EventStoreDB adapter via gRPC test double, Streams.Append without server-side idempotence', () =>
  onTestDouble({ batchAppend: false, idempotentWrites: false }),
);

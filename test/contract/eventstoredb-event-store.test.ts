import { EventStoreDbEventStore } from '../../libs/event-store/eventstoredb/eventstoredb-event-store';
import { eventStoreContract } from './event-store.contract';

/**
 * The contract against a real EventStoreDB, e.g.
 * `EVENTSTORE_URL='esdb://localhost:2113?tls=false'`. Runs are isolated by stream names, so a
 * shared, long-lived server is fine.
 */
// EVENTSTORE_URL by hand, or the KurrentDB container `npm test` starts when a container engine answers.
const url = process.env.EVENTSTORE_URL || process.env.TEST_KURRENTDB_URL || '';

if (!url) {
  process.stdout.write(
    'no EventStoreDB server (EVENTSTORE_URL, TEST_KURRENTDB_URL unset): skipping the contract suite against a real one; the test double suite covers the adapter\n',
  );
}

const describeIfServer = url ? describe : describe.skip;

describeIfServer('EventStoreDB server at EVENTSTORE_URL', () => {
  eventStoreContract('EventStoreDB adapter on a real server', async () => {
    const store = new EventStoreDbEventStore(url);
    return { store, teardown: () => store.close() };
  });
});

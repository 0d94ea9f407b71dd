import { EventStore } from '../event-store/event-store.port';

export function createEventStoreDbStore(url: string): EventStore {
  throw new Error(`EventStoreDB adapter not wired yet (${url.split('@').pop()})`);
}

import { MixedList } from 'typeorm';

// The read models' TypeORM entities and migrations, registered in one place.
// eslint-disable-next-line @typescript-eslint/ban-types
export const READ_MODEL_ENTITIES: MixedList<Function> = [];
// eslint-disable-next-line @typescript-eslint/ban-types
export const READ_MODEL_MIGRATIONS: Function[] = [];

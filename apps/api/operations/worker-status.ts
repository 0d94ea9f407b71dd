// The readiness logic moved to libs/observability, shared by every process's health endpoints.
export { WorkerStatus } from '../../../libs/observability/worker-status';

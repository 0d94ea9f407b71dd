import { status as GrpcStatus } from '@grpc/grpc-js';
import { Code } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/code_pb';
import {
  AllStreamPosition,
  BadRequest,
  Empty as SharedEmpty,
  StreamIdentifier,
  UUID,
  WrongExpectedVersion as SharedWrongExpectedVersion,
} from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/shared_pb';
import { Status } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/status_pb';
import { AppendReq, AppendResp, BatchAppendReq, BatchAppendResp, ReadResp } from '@kurrent/kurrentdb-client/generated/kurrentdb/protocols/v1/streams_pb';
import { Any } from 'google-protobuf/google/protobuf/any_pb';
import { Empty } from 'google-protobuf/google/protobuf/empty_pb';
import { AppendOutcome, ExpectedState, ProposedEvent, StoredEvent } from './in-memory-log';

/** A request the double refuses; becomes the call's gRPC status. */
export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly code: GrpcStatus = GrpcStatus.INVALID_ARGUMENT,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** The two proposed-message types (Append, BatchAppend) have the same fields. */
interface ProposedMessage {
  getId(): UUID | undefined;
  getMetadataMap(): { get(key: string): string | undefined };
  getData_asU8(): Uint8Array;
  getCustomMetadata_asU8(): Uint8Array;
}

const TICKS_PER_MILLISECOND = 10_000n;
const utf8 = new TextDecoder();

export function uuidToString(uuid: UUID | undefined): string {
  if (!uuid) throw new ProtocolError('missing uuid');
  if (uuid.hasString()) return uuid.getString();
  const structured = uuid.getStructured();
  if (!structured) throw new ProtocolError('empty uuid');
  const hex = [structured.getMostSignificantBits(), structured.getLeastSignificantBits()]
    .map((half) => BigInt.asUintN(64, BigInt(half)).toString(16).padStart(16, '0'))
    .join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function toUuid(id: string, structured: boolean): UUID {
  const uuid = new UUID();
  if (!structured) return uuid.setString(id);
  const hex = id.replace(/-/g, '');
  const signed = (half: string) => BigInt.asIntN(64, BigInt(`0x${half}`)).toString();
  return uuid.setStructured(
    new UUID.Structured().setMostSignificantBits(signed(hex.slice(0, 16))).setLeastSignificantBits(signed(hex.slice(16))),
  );
}

export function streamNameOf(identifier: StreamIdentifier | undefined): string {
  if (!identifier) throw new ProtocolError('missing stream identifier');
  return utf8.decode(identifier.getStreamName_asU8());
}

export function toStreamIdentifier(streamName: string): StreamIdentifier {
  return new StreamIdentifier().setStreamName(Buffer.from(streamName, 'utf8'));
}

export function toProposedEvent(message: ProposedMessage): ProposedEvent {
  const metadata = message.getMetadataMap();
  const type = metadata.get('type');
  const contentType = metadata.get('content-type');
  // The server's RequiredMetadataPropertyMissing, reduced to its status code.
  if (!type) throw new ProtocolError('required metadata property "type" is missing');
  if (!contentType) throw new ProtocolError('required metadata property "content-type" is missing');
  return {
    id: uuidToString(message.getId()),
    type,
    contentType,
    data: message.getData_asU8(),
    customMetadata: message.getCustomMetadata_asU8(),
  };
}

export function expectedFromAppendOptions(options: AppendReq.Options): ExpectedState {
  if (options.hasRevision()) return { kind: 'revision', revision: Number(options.getRevision()) };
  if (options.hasNoStream()) return { kind: 'no_stream' };
  if (options.hasStreamExists()) return { kind: 'stream_exists' };
  if (options.hasAny()) return { kind: 'any' };
  throw new ProtocolError('missing expected stream revision');
}

export function expectedFromBatchOptions(options: BatchAppendReq.Options): ExpectedState {
  if (options.hasStreamPosition()) return { kind: 'revision', revision: Number(options.getStreamPosition()) };
  if (options.hasNoStream()) return { kind: 'no_stream' };
  if (options.hasStreamExists()) return { kind: 'stream_exists' };
  if (options.hasAny()) return { kind: 'any' };
  throw new ProtocolError('missing expected stream position');
}

export function toAppendResponse(outcome: AppendOutcome, expected: ExpectedState): AppendResp {
  const response = new AppendResp();
  if (outcome.kind === 'written') {
    const success = new AppendResp.Success();
    if (outcome.currentRevision < 0) success.setNoStream(new SharedEmpty());
    else success.setCurrentRevision(String(outcome.currentRevision));
    if (outcome.logPosition === undefined) success.setNoPosition(new SharedEmpty());
    else {
      const position = String(outcome.logPosition);
      success.setPosition(new AppendResp.Position().setCommitPosition(position).setPreparePosition(position));
    }
    return response.setSuccess(success);
  }
  const wrong = new AppendResp.WrongExpectedVersion();
  if (outcome.currentRevision < 0) wrong.setCurrentNoStream(new SharedEmpty());
  else wrong.setCurrentRevision(String(outcome.currentRevision));
  switch (expected.kind) {
    case 'any':
      wrong.setExpectedAny(new SharedEmpty());
      break;
    case 'no_stream':
      wrong.setExpectedNoStream(new SharedEmpty());
      break;
    case 'stream_exists':
      wrong.setExpectedStreamExists(new SharedEmpty());
      break;
    case 'revision':
      wrong.setExpectedRevision(String(expected.revision));
      break;
  }
  return response.setWrongExpectedVersion(wrong);
}

/**
 * BatchAppend reports a wrong expected version as a google.rpc.Status (ALREADY_EXISTS) whose details
 * pack an `event_store.client.WrongExpectedVersion`, the shape the client unpacks.
 */
export function toBatchAppendResponse(
  correlationId: UUID | undefined,
  streamName: string,
  outcome: AppendOutcome,
  expected: ExpectedState,
): BatchAppendResp {
  const response = new BatchAppendResp().setCorrelationId(correlationId).setStreamIdentifier(toStreamIdentifier(streamName));
  if (outcome.kind === 'written') {
    const success = new BatchAppendResp.Success();
    if (outcome.currentRevision < 0) success.setNoStream(new Empty());
    else success.setCurrentRevision(String(outcome.currentRevision));
    if (outcome.logPosition === undefined) success.setNoPosition(new Empty());
    else {
      const position = String(outcome.logPosition);
      success.setPosition(new AllStreamPosition().setCommitPosition(position).setPreparePosition(position));
    }
    return response.setSuccess(success);
  }
  const details = new SharedWrongExpectedVersion();
  if (outcome.currentRevision < 0) details.setCurrentNoStream(new Empty());
  else details.setCurrentStreamRevision(String(outcome.currentRevision));
  switch (expected.kind) {
    case 'any':
      details.setExpectedAny(new Empty());
      break;
    case 'no_stream':
      details.setExpectedNoStream(new Empty());
      break;
    case 'stream_exists':
      details.setExpectedStreamExists(new Empty());
      break;
    case 'revision':
      details.setExpectedStreamPosition(String(expected.revision));
      break;
  }
  return response.setError(
    new Status()
      .setCode(Code.ALREADY_EXISTS)
      .setMessage('WrongExpectedVersion')
      .setDetails(pack(details.serializeBinary(), 'event_store.client.WrongExpectedVersion')),
  );
}

/** A malformed request inside a BatchAppend call fails that append alone, with a BadRequest status. */
export function toBadRequestResponse(correlationId: UUID | undefined, streamName: string | undefined, error: unknown): BatchAppendResp {
  const message = error instanceof Error ? error.message : String(error);
  const response = new BatchAppendResp().setCorrelationId(correlationId);
  if (streamName !== undefined) response.setStreamIdentifier(toStreamIdentifier(streamName));
  return response.setError(
    new Status()
      .setCode(Code.INVALID_ARGUMENT)
      .setMessage(message)
      .setDetails(pack(new BadRequest().setMessage(message).serializeBinary(), 'event_store.client.BadRequest')),
  );
}

function pack(serialized: Uint8Array, typeName: string): Any {
  const any = new Any();
  any.pack(serialized, typeName);
  return any;
}

export function toRecordedEventMessage(event: StoredEvent, structuredIds: boolean): ReadResp.ReadEvent.RecordedEvent {
  const position = String(event.logPosition);
  const message = new ReadResp.ReadEvent.RecordedEvent()
    .setId(toUuid(event.id, structuredIds))
    .setStreamIdentifier(toStreamIdentifier(event.streamName))
    .setStreamRevision(String(event.revision))
    .setCommitPosition(position)
    .setPreparePosition(position)
    .setData(event.data)
    .setCustomMetadata(event.customMetadata);
  const metadata = message.getMetadataMap();
  metadata.set('type', event.type);
  metadata.set('content-type', event.contentType);
  // .NET ticks (100 ns) since the Unix epoch, as the server sends them.
  metadata.set('created', String(BigInt(event.created.getTime()) * TICKS_PER_MILLISECOND));
  return message;
}

export function toEventResponse(event: StoredEvent, structuredIds: boolean): ReadResp {
  const readEvent = new ReadResp.ReadEvent()
    .setEvent(toRecordedEventMessage(event, structuredIds))
    .setCommitPosition(String(event.logPosition));
  return new ReadResp().setEvent(readEvent);
}

export function toCheckpointResponse(logPosition: bigint): ReadResp {
  const position = String(logPosition);
  return new ReadResp().setCheckpoint(new ReadResp.Checkpoint().setCommitPosition(position).setPreparePosition(position));
}

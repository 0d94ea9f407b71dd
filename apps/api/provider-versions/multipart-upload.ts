import path from 'node:path';
import { Readable } from 'node:stream';
import busboy from 'busboy';
import type { IncomingMessage } from 'node:http';
import { DomainError } from '../../../libs/domain/domain-error';

export interface MultipartUploadOptions<Fields, Result> {
  /** The one text field read (before the file); its size cap is the JSON body limit. */
  fieldName: string;
  fileField: string;
  maxFieldBytes: number;
  /** Checks the field: throwing refuses the request before the file is read. */
  acceptField(value: string): Fields;
  /** Consumes the file's stream; its result is the request's. */
  acceptFile(fields: Fields, file: { filename: string; content: Readable }): Promise<Result>;
}

const MULTIPART = /^multipart\/form-data\b/i;

function badRequest(code: string, message: string): DomainError {
  return new DomainError('invalid', code, message);
}

/**
 * Reads a multipart request as the platform's SDK sends it: the text field first, then the file,
 * streamed into `acceptFile` as it arrives. Whatever is refused is drained, so the client reads the
 * answer instead of a reset connection; the first failure is the request's answer.
 */
export function readMultipartUpload<Fields, Result>(request: IncomingMessage, options: MultipartUploadOptions<Fields, Result>): Promise<Result> {
  if (!MULTIPART.test(request.headers['content-type'] ?? '')) {
    return Promise.reject(new DomainError('invalid', 'multipart_required', `Send multipart/form-data with a "${options.fieldName}" field and a "${options.fileField}" file.`));
  }
  return new Promise<Result>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: request.headers, limits: { fields: 20, files: 1, parts: 21, fieldSize: options.maxFieldBytes } });
    } catch (error) {
      reject(badRequest('malformed_multipart', `The multipart body cannot be read: ${error instanceof Error ? error.message : String(error)}.`));
      return;
    }
    new MultipartUpload(request, parser, options, resolve, reject).start();
  });
}

/** One request being read: the field, then the file, then the answer. */
class MultipartUpload<Fields, Result> {
  private fields: Fields | undefined;
  private failure: Error | undefined;
  private result: Promise<Result> | undefined;

  constructor(
    private readonly request: IncomingMessage,
    private readonly parser: busboy.Busboy,
    private readonly options: MultipartUploadOptions<Fields, Result>,
    private readonly resolve: (value: Result) => void,
    private readonly reject: (error: Error) => void,
  ) {}

  start(): void {
    this.parser.on('field', (name, value, info) => this.onField(name, value, info.valueTruncated));
    this.parser.on('file', (name, file, info) => this.onFile(name, file, info.filename));
    this.parser.on('filesLimit', () => this.fail(badRequest('too_many_files', `Send exactly one "${this.options.fileField}" file.`)));
    this.parser.on('error', (error: Error) => {
      this.request.unpipe(this.parser);
      this.request.resume();
      this.refuse(badRequest('malformed_multipart', `The multipart body cannot be read: ${error.message}.`));
    });
    this.parser.on('close', () => this.onClose());
    this.request.pipe(this.parser);
  }

  private fail(error: unknown): void {
    this.failure ??= error instanceof Error ? error : new Error(String(error));
  }

  /** The request's answer: the first failure, else `fallback`. */
  private refuse(fallback: unknown): void {
    this.fail(fallback);
    this.reject(this.failure ?? new Error('upload refused'));
  }

  private onField(name: string, value: string, truncated: boolean): void {
    if (name !== this.options.fieldName || this.failure !== undefined) return;
    if (truncated) return this.fail(new DomainError('invalid', 'metadata_too_large', `The "${name}" field is larger than ${this.options.maxFieldBytes} bytes.`));
    try {
      this.fields = this.options.acceptField(value);
    } catch (error) {
      this.fail(error);
    }
  }

  private onFile(name: string, file: Readable, rawFilename: string | undefined): void {
    if (name !== this.options.fileField || this.failure !== undefined || this.result) return void file.resume();
    if (this.fields === undefined) {
      this.fail(badRequest('metadata_first', `The "${this.options.fieldName}" field must come before the "${this.options.fileField}" file.`));
      return void file.resume();
    }
    const filename = path.basename(rawFilename ?? '');
    if (!filename) {
      this.fail(badRequest('wheel_filename_missing', `The "${this.options.fileField}" file must carry a filename.`));
      return void file.resume();
    }
    this.result = this.options.acceptFile(this.fields, { filename, content: file });
    // A consumer that stops reading (a refusal, a size cap) may have destroyed the file's stream,
    // which stalls the parser: the rest of the request is drained past it, then refused.
    this.result.catch((error: unknown) => {
      this.request.unpipe(this.parser);
      if (this.request.readableEnded) return this.refuse(error);
      this.request.once('end', () => this.refuse(error));
      this.request.resume();
    });
  }

  private onClose(): void {
    const settled =
      this.result ??
      Promise.reject(
        this.fields === undefined
          ? badRequest('metadata_missing', `The "${this.options.fieldName}" field is missing.`)
          : badRequest('wheel_missing', `The "${this.options.fileField}" file is missing.`),
      );
    settled.then((value) => (this.failure === undefined ? this.resolve(value) : this.refuse(this.failure)), (error: unknown) => this.refuse(error));
  }
}

import path from 'node:path';
import { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Request } from 'express';
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
export function readMultipartUpload<Fields, Result>(request: Request, options: MultipartUploadOptions<Fields, Result>): Promise<Result> {
  if (!MULTIPART.test(request.headers['content-type'] ?? '')) {
    return Promise.reject(new DomainError('invalid', 'multipart_required', `Send multipart/form-data with a "${options.fieldName}" field and a "${options.fileField}" file.`));
  }
  return new Promise<Result>((resolve, reject) => {
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: request.headers, limits: { fields: 20, files: 1, parts: 21, fieldSize: options.maxFieldBytes } });
    } catch (error) {
      reject(badRequest('malformed_multipart', `The multipart body cannot be read: ${(error as Error).message}.`));
      return;
    }
    let fields: Fields | undefined;
    let failure: Error | undefined;
    let result: Promise<Result> | undefined;
    const fail = (error: unknown) => {
      failure ??= error instanceof Error ? error : new Error(String(error));
    };
    /** The request's answer: the first failure, else `fallback`. */
    const refuse = (fallback: unknown) => {
      fail(fallback);
      reject(failure ?? new Error('upload refused'));
    };
    parser.on('field', (name, value, info) => {
      if (name !== options.fieldName || failure !== undefined) return;
      if (info.valueTruncated) return fail(new DomainError('invalid', 'metadata_too_large', `The "${name}" field is larger than ${options.maxFieldBytes} bytes.`));
      try {
        fields = options.acceptField(value);
      } catch (error) {
        fail(error);
      }
    });
    parser.on('file', (name, file, info) => {
      if (name !== options.fileField || failure !== undefined || result) return void file.resume();
      if (fields === undefined) {
        fail(badRequest('metadata_first', `The "${options.fieldName}" field must come before the "${options.fileField}" file.`));
        return void file.resume();
      }
      const filename = path.basename(info.filename ?? '');
      if (!filename) {
        fail(badRequest('wheel_filename_missing', `The "${options.fileField}" file must carry a filename.`));
        return void file.resume();
      }
      result = options.acceptFile(fields, { filename, content: file });
      // A consumer that stops reading (a refusal, a size cap) may have destroyed the file's stream,
      // which stalls the parser: the rest of the request is drained past it, then refused.
      result.catch((error: unknown) => {
        request.unpipe(parser);
        if (request.readableEnded) return refuse(error);
        request.once('end', () => refuse(error));
        request.resume();
      });
    });
    parser.on('filesLimit', () => fail(badRequest('too_many_files', `Send exactly one "${options.fileField}" file.`)));
    parser.on('error', (error: Error) => {
      request.unpipe(parser);
      request.resume();
      refuse(badRequest('malformed_multipart', `The multipart body cannot be read: ${error.message}.`));
    });
    parser.on('close', () => {
      const settled = result ?? Promise.reject(fields === undefined
        ? badRequest('metadata_missing', `The "${options.fieldName}" field is missing.`)
        : badRequest('wheel_missing', `The "${options.fileField}" file is missing.`));
      settled.then((value) => (failure === undefined ? resolve(value) : refuse(failure)), refuse);
    });
    request.pipe(parser);
  });
}

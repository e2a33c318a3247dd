/**
 * `restic-ts/s3`: the S3 backend. It needs the optional peer dependency
 * `@aws-sdk/client-s3` (`npm install @aws-sdk/client-s3`), loaded on first use.
 *
 * @example
 * ```ts
 * import { S3Backend } from 'restic-ts/s3';
 * const backend = S3Backend.fromLocation('s3:http://127.0.0.1:9000/bucket/repo');
 * ```
 */
export { S3Backend, S3Error, parseS3Location, type S3BackendOptions, type S3Credentials, type BucketLookup } from '../backends/s3.js';

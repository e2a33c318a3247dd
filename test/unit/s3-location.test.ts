/** `s3:` location parsing and options (no server needed). */
import { describe, expect, it } from 'vitest';
import { openLocation } from '../../src/backends/location.js';
import { RetryBackend } from '../../src/backends/retry.js';
import { S3Backend, parseS3Location, s3OptionsFromLocation } from '../../src/backends/s3.js';
import { UsageError } from '../../src/errors.js';

describe('parseS3Location (restic syntax)', () => {
  it.each([
    ['s3:host.example/bucket', { endpoint: 'https://host.example', host: 'host.example', bucket: 'bucket', prefix: '' }],
    [
      's3:host.example:9000/bucket/a/b',
      { endpoint: 'https://host.example:9000', host: 'host.example:9000', bucket: 'bucket', prefix: 'a/b' },
    ],
    ['s3://host.example/bucket/', { endpoint: 'https://host.example', host: 'host.example', bucket: 'bucket', prefix: '' }],
    ['s3:http://127.0.0.1:7480/bucket', { endpoint: 'http://127.0.0.1:7480', host: '127.0.0.1:7480', bucket: 'bucket', prefix: '' }],
    [
      's3:https://minio.local/bucket/x//y/./z/',
      { endpoint: 'https://minio.local', host: 'minio.local', bucket: 'bucket', prefix: 'x/y/z' },
    ],
    [
      's3:s3.amazonaws.com/my-bucket/restic',
      { endpoint: 'https://s3.amazonaws.com', host: 's3.amazonaws.com', bucket: 'my-bucket', prefix: 'restic' },
    ],
  ])('%s', (loc, want) => {
    expect(parseS3Location(loc)).toEqual(want);
  });

  it.each([
    's3:host.example',
    's3:host.example/',
    's3:http://host.example',
    's3:http://host.example/',
    's3:/bucket',
    's3:http://user:pw@h/b',
  ])('rejects %s with a usage error', (loc) => {
    expect(() => parseS3Location(loc)).toThrow(UsageError);
  });
});

describe('s3OptionsFromLocation', () => {
  const env = { AWS_ACCESS_KEY_ID: 'AK', AWS_SECRET_ACCESS_KEY: 'SK' };

  it('takes credentials, session token and region from the environment', () => {
    const o = s3OptionsFromLocation('s3:http://127.0.0.1:1/b/p', {
      env: { ...env, AWS_SESSION_TOKEN: 'T', AWS_DEFAULT_REGION: 'eu-west-1' },
    });
    expect(o).toMatchObject({
      endpoint: 'http://127.0.0.1:1',
      bucket: 'b',
      prefix: 'p',
      region: 'eu-west-1',
      bucketLookup: 'auto',
      credentials: { accessKeyId: 'AK', secretAccessKey: 'SK', sessionToken: 'T' },
    });
  });

  it('-o s3.region beats AWS_DEFAULT_REGION; us-east-1 by default', () => {
    expect(s3OptionsFromLocation('s3:h/b', { env }).region).toBe('us-east-1');
    expect(s3OptionsFromLocation('s3:h/b', { env: { ...env, AWS_DEFAULT_REGION: 'x' }, extended: { 's3.region': 'y' } }).region).toBe('y');
  });

  it('s3.amazonaws.com leaves the endpoint to the SDK', () => {
    expect(s3OptionsFromLocation('s3:s3.amazonaws.com/b', { env }).endpoint).toBeUndefined();
    expect(s3OptionsFromLocation('s3:s3.eu-west-1.amazonaws.com/b', { env }).endpoint).toBe('https://s3.eu-west-1.amazonaws.com');
  });

  it('validates -o s3.* options and half-set credentials', () => {
    expect(s3OptionsFromLocation('s3:h/b', { env, extended: { 's3.bucket-lookup': 'DNS' } }).bucketLookup).toBe('dns');
    expect(() => s3OptionsFromLocation('s3:h/b', { env, extended: { 's3.bucket-lookup': 'x' } })).toThrow(UsageError);
    expect(() => s3OptionsFromLocation('s3:h/b', { env, extended: { 's3.connections': '0' } })).toThrow(UsageError);
    expect(() => s3OptionsFromLocation('s3:h/b', { env, extended: { 's3.bogus': '1' } })).toThrow(UsageError);
    expect(() => S3Backend.fromLocation('s3:h/b', { env, extended: { 's3.retries': '-1' } })).toThrow(UsageError);
    expect((S3Backend.fromLocation('s3:h/b', { env, extended: { 's3.retries': '2' } }) as RetryBackend).options.retries).toBe(2);
    expect(s3OptionsFromLocation('s3:h/b', { env, extended: { 'sftp.command': 'x' } }).bucket).toBe('b');
    expect(() => s3OptionsFromLocation('s3:h/b', { env: { AWS_ACCESS_KEY_ID: 'AK' } })).toThrow(/Secret/);
    expect(() => s3OptionsFromLocation('s3:h/b', { env: { AWS_SECRET_ACCESS_KEY: 'SK' } })).toThrow(/Key ID/);
  });

  it('openLocation maps s3: to S3Backend with object keys in the default layout', () => {
    const wrapped = openLocation('s3:http://127.0.0.1:1/bucket/pre', { env });
    expect(wrapped).toBeInstanceOf(RetryBackend);
    expect(wrapped.location).toBe('s3:http://127.0.0.1:1/bucket/pre');
    const be = (wrapped as RetryBackend).inner as S3Backend;
    expect(be).toBeInstanceOf(S3Backend);
    expect(be.location).toBe('s3:http://127.0.0.1:1/bucket/pre');
    const id = 'ab'.padEnd(64, '0');
    expect(be.key({ type: 'config', name: '' })).toBe('pre/config');
    expect(be.key({ type: 'pack', name: id })).toBe(`pre/data/ab/${id}`);
    expect(be.key({ type: 'key', name: id })).toBe(`pre/keys/${id}`);
    expect(be.key({ type: 'lock', name: id })).toBe(`pre/locks/${id}`);
    expect(() => be.key({ type: 'index', name: '../x' })).toThrow();
  });
});

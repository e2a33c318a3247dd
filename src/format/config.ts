/** The repository `config` file: version, repository ID and chunker polynomial. */
import { FormatError } from '../errors.js';
import { isId } from './id.js';
import { deg, irreducible } from '../chunker/polynomial.js';

/** The repository's config file: format version, repository ID, chunker polynomial. */
export interface Config {
  version: number;
  id: string;
  chunkerPolynomial: bigint;
}

const MIN_REPO_VERSION = 1;
export const MAX_REPO_VERSION = 2;

export function encodeConfig(c: Config): Uint8Array {
  const json = `{"version":${c.version},"id":"${c.id}","chunker_polynomial":"${c.chunkerPolynomial.toString(16)}"}`;
  return Buffer.from(json);
}

export function decodeConfig(plain: Uint8Array): Config {
  let raw: { version?: unknown; id?: unknown; chunker_polynomial?: unknown };
  try {
    raw = JSON.parse(Buffer.from(plain).toString('utf8'));
  } catch (err) {
    throw new FormatError(`config is not valid JSON: ${(err as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new FormatError('config is not a JSON object');
  const { version, id, chunker_polynomial: pol } = raw;
  if (typeof version !== 'number' || version < MIN_REPO_VERSION || version > MAX_REPO_VERSION) {
    throw new FormatError(`unsupported repository version ${JSON.stringify(version) ?? String(version)}`);
  }
  if (!isId(id)) throw new FormatError('config has an invalid repository id');
  if (typeof pol !== 'string' || !/^[0-9a-f]{1,16}$/.test(pol)) {
    throw new FormatError(`config has an invalid chunker polynomial ${JSON.stringify(pol)}`);
  }
  const p = BigInt('0x' + pol);
  // checked at open, as restic's LoadConfig does: otherwise every file of a backup fails
  if (!irreducible(p)) throw new FormatError('invalid chunker polynomial');
  if (deg(p) < 40 || deg(p) > 53) throw new FormatError(`unsupported chunker polynomial of degree ${deg(p)} (restic's have 53)`);
  return { version, id, chunkerPolynomial: p };
}

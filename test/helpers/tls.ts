/** A self-signed certificate for 127.0.0.1 (EC P-256, two days), made with openssl. */
import { spawnSync } from 'node:child_process';

/** Writes the key and certificate PEM files; returns openssl's result for the caller to assert on. */
export function selfSignedCert(keyFile: string, certFile: string): { status: number | null; stderr: string } {
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2'];
  args.push('-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile);
  return spawnSync('openssl', args, { encoding: 'utf8' });
}

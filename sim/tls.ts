/**
 * A throw-away TLS identity for the simulated evidence server: a self-signed certificate for
 * 127.0.0.1 (subjectAltName IP 127.0.0.1 and DNS localhost) with an EC P-256 key, generated in
 * memory at run time. Nothing is written to disk or cached, so no key material is ever committed;
 * each call gives a fresh identity, which a test pins (Node `ca`, the unit's `evidence.cert`).
 */
import * as crypto from 'node:crypto';
import { generate } from 'selfsigned';

export interface TestCertificate {
  /** PEM certificate (the one to pin). */
  cert: string;
  /** PEM private key (PKCS#8). Never print it. */
  key: string;
  /** SHA-256 fingerprint as Node reports it (`AB:CD:…`). */
  fingerprint256: string;
}

export async function makeTestCertificate(opts: { commonName?: string } = {}): Promise<TestCertificate> {
  const commonName = opts.commonName ?? '127.0.0.1';
  const notBeforeDate = new Date(Date.now() - 60 * 60 * 1000); // an hour's slack for a skewed clock
  const notAfterDate = new Date(notBeforeDate.getTime() + 30 * 24 * 60 * 60 * 1000);
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' }
        ]
      }
    ]
  });
  let x509: crypto.X509Certificate;
  try {
    x509 = new crypto.X509Certificate(pems.cert);
    crypto.createPrivateKey(pems.private);
  } catch (e) {
    throw new Error(`selfsigned produced an unreadable certificate or key: ${(e as Error).message}`);
  }
  if (!x509.checkIP('127.0.0.1')) throw new Error('generated certificate does not cover 127.0.0.1');
  return { cert: pems.cert, key: pems.private, fingerprint256: x509.fingerprint256 };
}

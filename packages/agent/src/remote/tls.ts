import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';

// The TCP listener's certificate: the one the config names, or a self-signed one generated
// at first start under <state dir>/tls (key 0600) and kept across restarts. Remote panels
// pin its SHA-256 fingerprint, which berthd prints at every start.

export interface TlsMaterial {
  cert: string;
  key: string;
  /** SHA-256 of the certificate (DER), "AB:CD:…". */
  fingerprint: string;
  /** Where it came from, for the start-up line. */
  source: 'config' | 'generated' | 'state';
  certFile: string;
}

export async function loadTls(opts: {
  stateDir: string;
  certFile?: string;
  keyFile?: string;
}): Promise<TlsMaterial> {
  if (opts.certFile || opts.keyFile) {
    if (!opts.certFile || !opts.keyFile)
      throw new Error('--tls-cert and --tls-key go together: give both or neither');
    const cert = read(opts.certFile, '--tls-cert');
    const key = read(opts.keyFile, '--tls-key');
    return {
      cert,
      key,
      fingerprint: fingerprintOf(cert, opts.certFile),
      source: 'config',
      certFile: opts.certFile,
    };
  }
  const dir = join(opts.stateDir, 'tls');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8');
    return {
      cert,
      key: readFileSync(keyFile, 'utf8'),
      fingerprint: fingerprintOf(cert, certFile),
      source: 'state',
      certFile,
    };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: `berthd ${hostname()}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + 10 * 365 * 24 * 3600_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 2, value: hostname() },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  writeFileSync(keyFile, pems.private, { mode: 0o600 });
  writeFileSync(certFile, pems.cert, { mode: 0o644 });
  return {
    cert: pems.cert,
    key: pems.private,
    fingerprint: fingerprintOf(pems.cert, certFile),
    source: 'generated',
    certFile,
  };
}

function read(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(
      `${flag} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`,
    );
  }
}

function fingerprintOf(cert: string, file: string): string {
  try {
    return new X509Certificate(cert).fingerprint256;
  } catch (err) {
    throw new Error(`${file}: not a PEM certificate (${(err as Error).message})`);
  }
}

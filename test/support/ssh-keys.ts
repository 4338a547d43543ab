import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway ed25519 key made by the real ssh-keygen, for interop tests of signed decisions. */
export interface TestKey {
  readonly name: string;
  readonly privatePath: string;
  readonly publicLine: string;
}

export interface KeyDir {
  readonly dir: string;
  key(name: string): TestKey;
  /** `ssh-keygen -Y sign` of `message` with `key` in `namespace` (default prograde-decision). */
  sign(key: TestKey, message: string, namespace?: string): string;
  close(): void;
}

export function keyDir(): KeyDir {
  const dir = mkdtempSync(join(tmpdir(), 'prograde-keys-'));
  return {
    dir,
    key(name) {
      const privatePath = join(dir, name);
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@test`, '-f', privatePath]);
      return { name, privatePath, publicLine: readFileSync(`${privatePath}.pub`, 'utf8').trim() };
    },
    sign(key, message, namespace = 'prograde-decision') {
      return execFileSync('ssh-keygen', ['-Y', 'sign', '-q', '-f', key.privatePath, '-n', namespace], {
        input: message,
        encoding: 'utf8',
      });
    },
    close() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Writes a file in the key dir and returns its path. */
export function writeIn(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

import { hash, verify } from '@node-rs/argon2';

// Argon2id through @node-rs/argon2: prebuilt binaries for every platform come from the npm
// registry as optional packages, so nothing compiles or downloads at install (the `argon2`
// package needs node-gyp or a GitHub download); OWASP's recommended parameters.
const params = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, params);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false; // a malformed stored hash never signs anyone in
  }
}

// Verified against when the user does not exist, so a wrong name costs as long as a wrong
// password and response times do not reveal which names exist.
let dummyHash: Promise<string> | undefined;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword('berth-no-such-user');
  await verifyPassword(await dummyHash, password);
}

/** argon2id behind a port: native `argon2` on Node, a WASM build on Workers. */
export interface PasswordHasher {
  /** Returns a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). */
  hash(password: string): Promise<string>;
  /** False for a wrong password and for a hash it cannot read; never throws on bad input. */
  verify(phcHash: string, password: string): Promise<boolean>;
  /** True when the hash was made with other parameters than the configured ones. */
  needsRehash(phcHash: string): boolean;
}

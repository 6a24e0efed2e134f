// Every failure from the backend becomes a `UserError` here, in one place: a code the UI may
// branch on (unknown codes are treated as generic) and a message that says what to do.

import type { BackendError } from './types';

/** Codes the UI branches on. Anything else is shown as it is. */
export type KnownCode = 'port-in-use' | 'credentials' | 'not-connected' | 'invalid' | 'not-found' | 'exists';

export class UserError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = 'UserError';
  }

  is(code: KnownCode): boolean {
    return this.code === code;
  }

  static from(error: unknown): UserError {
    if (error instanceof UserError) return error;
    if (isBackendError(error)) return new UserError(error.code, error.message);
    if (error instanceof Error) return new UserError('internal', error.message);
    if (typeof error === 'string') return new UserError('internal', error);
    return new UserError('internal', 'Something went wrong and gave no reason.');
  }
}

function isBackendError(value: unknown): value is BackendError {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as BackendError).code === 'string' &&
    typeof (value as BackendError).message === 'string'
  );
}

/** Runs a backend call and turns any failure into a `UserError`. */
export async function attempt<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw UserError.from(error);
  }
}

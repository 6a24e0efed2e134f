import { describe, expect, it } from 'vitest';
import type { TunnelProfile } from '../backend/types';
import { copyName, exposureWarning, hasErrors, isIpAddress, isLoopback, validateProfile } from './validate';

const good: TunnelProfile = {
  name: 'db',
  awsProfile: null,
  region: 'eu-west-1',
  target: 'i-0123456789abcdef0',
  remotePort: 5432,
  remoteHost: 'db.internal',
  localPort: 15432,
  bind: '127.0.0.1',
  sessions: 2,
  autoStart: false,
  keepAlive: false,
  moreForwards: [],
};

describe('profile validation', () => {
  it('accepts a good profile', () => {
    expect(validateProfile(good, ['other'])).toEqual({});
  });

  it('names each bad field with what to do', () => {
    const errors = validateProfile(
      {
        ...good,
        name: ' ',
        target: 'i-1 2',
        remotePort: 0,
        localPort: 70000,
        remoteHost: "a'b",
        bind: 'localhost',
        sessions: 17,
        region: 'EU West',
      },
      [],
    );
    expect(Object.keys(errors).sort()).toEqual([
      'bind',
      'localPort',
      'name',
      'region',
      'remoteHost',
      'remotePort',
      'sessions',
      'target',
    ]);
    expect(hasErrors(errors)).toBe(true);
  });

  it('refuses a taken name but allows port 0 for any free port', () => {
    expect(validateProfile({ ...good, localPort: 0 }, ['db']).name).toBe('Another profile has this name.');
    expect(validateProfile({ ...good, localPort: 0 }, []).localPort).toBeUndefined();
  });

  it('knows an address when it sees one', () => {
    expect(['127.0.0.1', '0.0.0.0', '::1', 'fe80::1'].every(isIpAddress)).toBe(true);
    expect(['256.0.0.1', 'localhost', '', '1.2.3'].some(isIpAddress)).toBe(false);
  });

  it('warns about listeners other machines can reach, as the CLI does', () => {
    for (const quiet of ['127.0.0.1', '127.10.0.3', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) {
      expect(isLoopback(quiet), quiet).toBe(true);
      expect(exposureWarning(quiet), quiet).toBeNull();
    }
    for (const exposed of ['0.0.0.0', '::', '192.168.1.20', 'fe80::1', '::ffff:10.0.0.1']) {
      expect(isLoopback(exposed), exposed).toBe(false);
      expect(exposureWarning(exposed), exposed).toContain(exposed);
    }
    expect(exposureWarning('localhost'), 'not an address: an error, not a warning').toBeNull();
  });

  it('names copies so they do not clash', () => {
    expect(copyName('db', ['db'])).toBe('db (copy)');
    expect(copyName('db', ['db', 'db (copy)', 'db (copy 2)'])).toBe('db (copy 3)');
  });
});

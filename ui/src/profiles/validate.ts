// Inline checks of a tunnel profile as the user edits it: the same rules as
// `airlock_core::profiles::Profile::validate`, so the form says what is wrong before saving.
// The backend checks again on save; these only spare the user a round trip.

import { LIMITS } from '../backend/generated';
import type { ProfileForward, TunnelProfile } from '../backend/types';

export type ProfileErrors = Partial<Record<keyof TunnelProfile, string>>;
export type ForwardErrors = Partial<Record<keyof ProfileForward, string>>;

const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function isIpAddress(text: string): boolean {
  const m = ipv4.exec(text);
  if (m) return m.slice(1).every((part) => Number(part) <= 255);
  return text.includes(':') && /^[0-9a-fA-F:.]+$/.test(text);
}

/** Whether `bind` is a loopback address (127.0.0.0/8, ::1, or 127.x mapped into IPv6). */
export function isLoopback(bind: string): boolean {
  const text = bind.trim().toLowerCase();
  const v4 = text.startsWith('::ffff:') ? text.slice(7) : text;
  if (ipv4.test(v4)) return isIpAddress(v4) && v4.startsWith('127.');
  return /^(0{0,4}:){2,7}0{0,3}1$/.test(text) || text === '::1';
}

/**
 * The warning for a tunnel listening where other machines can reach it, as
 * `airlock_core::tunnel::exposure_warning` gives it to the CLI; null for loopback or an address
 * that is not valid (that is an error instead).
 */
export function exposureWarning(bind: string): string | null {
  const text = bind.trim();
  if (!isIpAddress(text) || isLoopback(text)) return null;
  return `Reachable from other machines: anyone who can connect to ${text} reaches the destination through your session. Use 127.0.0.1 unless you mean to share it.`;
}

export function isPort(value: number, allowZero: boolean): boolean {
  return Number.isInteger(value) && value <= 65535 && (allowZero ? value >= 0 : value >= 1);
}

export function validateProfile(profile: TunnelProfile, takenNames: string[]): ProfileErrors {
  const errors: ProfileErrors = {};
  const name = profile.name.trim();
  if (!name) errors.name = 'Give the profile a name.';
  else if (name.length > 64) errors.name = 'Keep the name to 64 characters.';
  else if (takenNames.includes(name)) errors.name = 'Another profile has this name.';
  if (!profile.target.trim()) errors.target = 'Choose the node (i-… or mi-…).';
  else if (/\s/.test(profile.target.trim())) errors.target = 'A node id has no spaces.';
  if (!isPort(profile.remotePort, false)) errors.remotePort = 'A port from 1 to 65535.';
  if (!isPort(profile.localPort, true)) errors.localPort = 'A port from 1 to 65535, or 0 for any free one.';
  if (badHost(profile.remoteHost)) errors.remoteHost = HOST_RULE;
  if (profile.moreForwards.length + 1 > LIMITS.maxForwards) {
    errors.moreForwards = `At most ${LIMITS.maxForwards} forwards in one profile.`;
  } else if (validateForwards(profile).some((e) => hasErrors(e))) {
    errors.moreForwards = 'A forward below needs a fix.';
  }
  if (!isIpAddress(profile.bind.trim())) errors.bind = 'An IP address such as 127.0.0.1.';
  if (!Number.isInteger(profile.sessions) || profile.sessions < 1 || profile.sessions > LIMITS.maxPool) {
    errors.sessions = `From 1 to ${LIMITS.maxPool} sessions.`;
  }
  if (profile.region !== null && profile.region !== '' && !/^[a-z0-9-]+$/.test(profile.region)) {
    errors.region = 'A region such as eu-west-1.';
  }
  return errors;
}

const HOST_RULE = 'A host name or address, without spaces or quotes.';

function badHost(host: string | null): boolean {
  return host !== null && host.trim() !== '' && /[\s']/.test(host.trim());
}

/** Each of the profile's more forwards' errors, in order; a local port may serve one forward. */
export function validateForwards(profile: TunnelProfile): ForwardErrors[] {
  const taken = [profile.localPort];
  return profile.moreForwards.map((forward) => {
    const errors: ForwardErrors = {};
    if (!isPort(forward.remotePort, false)) errors.remotePort = 'A port from 1 to 65535.';
    if (!isPort(forward.localPort, true)) errors.localPort = 'A port from 1 to 65535, or 0 for any free one.';
    else if (forward.localPort !== 0 && taken.includes(forward.localPort)) {
      errors.localPort = 'Another forward of this profile has this local port.';
    }
    if (badHost(forward.remoteHost)) errors.remoteHost = HOST_RULE;
    taken.push(forward.localPort);
    return errors;
  });
}

export function hasErrors(errors: ProfileErrors | ForwardErrors): boolean {
  return Object.keys(errors).length > 0;
}

/** A name for a copy of `name` that no profile has yet: "db (copy)", "db (copy 2)", … */
export function copyName(name: string, taken: string[]): string {
  let candidate = `${name} (copy)`;
  for (let n = 2; taken.includes(candidate); n += 1) candidate = `${name} (copy ${n})`;
  return candidate;
}

import { describe, expect, it } from 'vitest';
import { SHORTCUTS, matchShortcut } from './shortcuts';

const key = (
  code: string,
  mods: Partial<{ ctrl: boolean; shift: boolean; alt: boolean; meta: boolean }> = {},
) => ({
  code,
  ctrlKey: !!mods.ctrl,
  shiftKey: !!mods.shift,
  altKey: !!mods.alt,
  metaKey: !!mods.meta,
});

describe('shortcuts', () => {
  it('match their keys and leave plain Ctrl keys to the shell', () => {
    expect(matchShortcut(key('KeyT', { ctrl: true, shift: true }))).toBe('new-session');
    expect(matchShortcut(key('Tab', { ctrl: true }))).toBe('next-tab');
    expect(matchShortcut(key('Tab', { ctrl: true, shift: true }))).toBe('previous-tab');
    expect(matchShortcut(key('KeyC', { ctrl: true }))).toBeNull();
    expect(matchShortcut(key('KeyW', { ctrl: true }))).toBeNull();
    expect(matchShortcut(key('KeyT', { ctrl: true, shift: true, alt: true }))).toBeNull();
    expect(matchShortcut(key('Equal', { meta: true }))).toBe('zoom-in');
  });

  it('no two shortcuts share a key', () => {
    const seen = new Set<string>();
    for (const s of SHORTCUTS) {
      for (const code of s.codes) {
        const id = `${s.ctrl}-${s.shift}-${code}`;
        expect(seen.has(id), id).toBe(false);
        seen.add(id);
      }
    }
  });
});

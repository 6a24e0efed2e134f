import { act, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TabButton } from './TabButton';
import type { Tab } from './tabs';

describe('a tab', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('counts down to the next reconnect attempt in its tooltip', () => {
    const began = Date.now();
    const tab: Tab = {
      kind: 'shell',
      key: 'a',
      title: 'web-1',
      request: { target: 'i-1', document: null, parameters: {}, reason: null },
      state: { state: 'reconnecting', attempt: 2, delayMs: 4000, reason: 'reset' },
      stateSince: began,
    };
    render(<TabButton tab={tab} active onActivate={vi.fn()} onClose={vi.fn()} />);
    const title = () => screen.getByRole('tab').getAttribute('title');
    expect(title()).toBe('web-1 — Reconnecting in 4 s (attempt 2)');
    act(() => vi.advanceTimersByTime(2000));
    expect(title()).toBe('web-1 — Reconnecting in 2 s (attempt 2)');
    act(() => vi.advanceTimersByTime(2000));
    expect(title()).toBe('web-1 — Reconnecting (attempt 2)…');
  });
});

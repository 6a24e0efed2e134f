import { act, fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { AboutDialog, type Licences } from './AboutDialog';
import bundled from './licences.json';
import { version } from '../../../tauri.conf.json';

const licences: Licences = {
  packages: [
    {
      name: 'tokio',
      version: '1.48.0',
      kind: 'crate',
      licence: 'MIT',
      home: 'https://github.com/tokio-rs/tokio',
      texts: [0],
    },
    {
      name: 'react',
      version: '19.2.0',
      kind: 'npm',
      licence: 'MIT',
      home: 'https://github.com/facebook/react',
      texts: [1],
    },
    {
      name: 'ring',
      version: '0.17.14',
      kind: 'crate',
      licence: 'Apache-2.0 AND ISC',
      home: 'https://github.com/briansmith/ring',
      texts: [],
    },
  ],
  texts: ['Copyright (c) Tokio Contributors', 'Copyright (c) Meta Platforms'],
};

describe('the About view', () => {
  it('shows the version from tauri.conf.json', () => {
    render(<AboutDialog onClose={vi.fn()} load={() => new Promise(() => {})} />);
    expect(document.querySelector('[data-version]')?.textContent).toBe(version);
    expect(screen.getByText('Loading the licences…')).toBeTruthy();
  });

  it('lists the bundled packages, finds by name or licence, and opens one to its licence texts', async () => {
    render(<AboutDialog onClose={vi.fn()} load={async () => licences} />);
    await act(async () => {});
    expect(document.querySelectorAll('[data-package]')).toHaveLength(3);

    fireEvent.change(screen.getByLabelText('Find a package or licence'), { target: { value: 'isc' } });
    expect(
      [...document.querySelectorAll('[data-package]')].map((li) => li.getAttribute('data-package')),
    ).toEqual(['crate:ring@0.17.14']);
    fireEvent.click(screen.getByText('ring 0.17.14'));
    expect(screen.getByText(/ships no licence file; its licence is Apache-2.0 AND ISC/)).toBeTruthy();

    fireEvent.change(screen.getByLabelText('Find a package or licence'), { target: { value: 'react' } });
    fireEvent.click(screen.getByText('react 19.2.0'));
    expect(screen.getByText('Copyright (c) Meta Platforms')).toBeTruthy();

    fireEvent.change(screen.getByLabelText('Find a package or licence'), {
      target: { value: 'nothing-like-it' },
    });
    expect(screen.getByText(/No package or licence matches/)).toBeTruthy();
  });

  it('says so when the list cannot load', async () => {
    render(<AboutDialog onClose={vi.fn()} load={async () => Promise.reject(new Error('gone'))} />);
    await act(async () => {});
    expect(screen.getByText(/The licence list did not load: Error: gone/)).toBeTruthy();
  });

  it('bundles a licence for every package: the generated list names each with its licence, and texts resolve', () => {
    const list = bundled as Licences;
    const names = new Set(list.packages.map((p) => p.name));
    for (const expected of ['tauri', 'tokio', 'rustls', 'react', '@xterm/xterm'])
      expect(names, expected).toContain(expected);
    for (const p of list.packages) {
      expect(p.licence, p.name).not.toBe('not stated');
      for (const index of p.texts) expect(list.texts[index], p.name).toBeTruthy();
    }
  });
});

import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { BackendContext } from '../backend/backend';
import { FakeBackend } from '../backend/fake';
import { CopyDialog, minutes } from './CopyDialog';

function renderDialog(backend: FakeBackend, direction: 'upload' | 'download', local: string | null = null) {
  const onClose = vi.fn();
  render(
    <BackendContext.Provider value={backend}>
      <CopyDialog
        direction={direction}
        target="i-0a1b2c3d4e5f60001"
        title="web-1"
        local={local}
        onClose={onClose}
      />
    </BackendContext.Provider>,
  );
  return onClose;
}

function theCopy(backend: FakeBackend) {
  const [copy] = [...backend.copies.values()];
  return copy;
}

describe('the copy dialog', () => {
  it('sends a dropped file, shows its progress, rate and time left, then the digest that matched', async () => {
    const backend = new FakeBackend();
    renderDialog(backend, 'upload', '/home/me/a.bin');
    expect((screen.getByLabelText('File on this machine') as HTMLInputElement).value).toBe('/home/me/a.bin');
    fireEvent.change(screen.getByLabelText('Path on the node'), { target: { value: '/srv/' } });
    fireEvent.click(screen.getByText('Send'));
    await waitFor(() => expect(backend.copies.size).toBe(1));
    expect(theCopy(backend).request).toEqual({
      direction: 'upload',
      target: 'i-0a1b2c3d4e5f60001',
      local: '/home/me/a.bin',
      remote: '/srv/',
    });
    act(() =>
      theCopy(backend).onMessage({
        kind: 'progress',
        done: 500_000,
        total: 2_000_000,
        bytesPerSecond: 250_000,
        leftMs: 6000,
      }),
    );
    expect(screen.getByRole('status').textContent).toBe('500 KB of 2.00 MB · 250 KB/s · 0:06 left');
    expect((screen.getByLabelText('Copy progress') as HTMLProgressElement).value).toBe(500_000);
    act(() =>
      theCopy(backend).onMessage({ kind: 'done', path: '/srv/a.bin', bytes: 2_000_000, sha256: 'ab12' }),
    );
    expect(screen.getByRole('status').textContent).toBe('Copied 2.00 MB to /srv/a.bin.');
    expect(screen.getByText(/SHA-256 ab12/)).toBeTruthy();
  });

  it('cancels a copy under way and says what became of the partial file', async () => {
    const backend = new FakeBackend();
    renderDialog(backend, 'download');
    fireEvent.change(screen.getByLabelText('File on the node'), { target: { value: '/var/log/syslog' } });
    await waitFor(() =>
      expect((screen.getByLabelText('Save to') as HTMLInputElement).value).toBe('/home/user/Downloads'),
    );
    fireEvent.click(screen.getByText('Get'));
    await waitFor(() => expect(screen.getByText('Cancel')).toHaveProperty('disabled', false));
    fireEvent.click(screen.getByText('Cancel'));
    expect(theCopy(backend).cancelled).toBe(true);
    expect(screen.getByRole('alert').textContent).toBe('Cancelled; the partial file was removed.');
    fireEvent.click(screen.getByText('Try again'));
    expect((screen.getByLabelText('File on the node') as HTMLInputElement).value).toBe('/var/log/syslog');
  });

  it('asks for both paths before starting, and takes one from the system chooser', async () => {
    const backend = new FakeBackend();
    renderDialog(backend, 'upload');
    fireEvent.change(screen.getByLabelText('Path on the node'), { target: { value: '' } });
    fireEvent.click(screen.getByText('Send'));
    expect(screen.getByRole('alert').textContent).toMatch(/Give the file to send/);
    expect(backend.copies.size).toBe(0);
    backend.chosenFile = '/home/me/chosen.iso';
    fireEvent.click(screen.getByText('Choose…'));
    await waitFor(() =>
      expect((screen.getByLabelText('File on this machine') as HTMLInputElement).value).toBe(
        '/home/me/chosen.iso',
      ),
    );
  });

  it('writes the time left as minutes and seconds', () => {
    expect(minutes(65_000)).toBe('1:05');
    expect(minutes(0)).toBe('0:00');
  });
});

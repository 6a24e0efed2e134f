import { act, fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { BackendContext } from '../backend/backend';
import { FakeBackend } from '../backend/fake';
import { DoctorDialog } from './DoctorDialog';

describe('check connection', () => {
  it('shows each check with its verdict and fix, for the selected node, and checks again', async () => {
    const backend = new FakeBackend();
    backend.doctorReport = {
      checks: [
        { title: 'SSM API', verdict: 'ok', detail: 'reached directly, TLS verified', fix: null },
        { title: 'Clock', verdict: 'failed', detail: '1200 s behind', fix: 'set the clock right' },
        { title: 'ec2:DescribeInstances', verdict: 'warning', detail: 'refused', fix: 'add it' },
      ],
    };
    render(
      <BackendContext.Provider value={backend}>
        <DoctorDialog target="i-1" onClose={() => undefined} />
      </BackendContext.Provider>,
    );
    await act(async () => {});
    const lines = [...document.querySelectorAll('.doctor-check')];
    expect(lines.map((l) => l.getAttribute('data-verdict'))).toEqual(['ok', 'failed', 'warning']);
    expect(lines[1].textContent).toContain('Fix: set the clock right');
    expect(screen.getByRole('status').textContent).toBe('1 check failed.');
    expect(backend.doctorTargets).toEqual(['i-1']);
    fireEvent.click(screen.getByText('Check again'));
    await act(async () => {});
    expect(backend.doctorTargets).toEqual(['i-1', 'i-1']);
  });
});

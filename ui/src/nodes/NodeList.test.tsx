import { fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import type { ManagedNode } from '../backend/types';
import { NodeList } from './NodeList';

const node = (i: number): ManagedNode => ({
  id: `i-${String(i).padStart(17, '0')}`,
  name: `fleet-${String(i).padStart(5, '0')}`,
  platformType: i % 2 ? 'Linux' : 'Windows',
  platformName: 'x',
  pingStatus: 'Online',
  agentVersion: '3.3.1142.0',
  ipAddress: '10.0.0.1',
  state: 'running',
  tags: { env: i % 3 ? 'dev' : 'prod' },
});

function renderList(nodes: ManagedNode[], selected: string | null = null, notices: string[] = []) {
  const props = {
    nodes,
    loading: false,
    error: null,
    selected,
    notices,
    onSelect: vi.fn(),
    onOpenShell: vi.fn(),
    onStartSession: vi.fn(),
    onNewTunnel: vi.fn(),
    onRefresh: vi.fn(),
  };
  render(<NodeList {...props} />);
  return props;
}

describe('the node list', () => {
  it('says once, above the list, what the list lacks', () => {
    renderList([node(1)], null, [
      'The node list lacks Name tags because these credentials may not call ec2:DescribeInstances',
    ]);
    expect([...document.querySelectorAll('.list-notice')].map((n) => n.textContent)).toEqual([
      'The node list lacks Name tags because these credentials may not call ec2:DescribeInstances',
    ]);
    expect(document.querySelectorAll('.node-row[data-node]').length).toBe(1);
  });

  it('renders only the rows in view of ten thousand', () => {
    renderList(Array.from({ length: 10_000 }, (_, i) => node(i)));
    const rows = document.querySelectorAll('.node-row[data-node]');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(100);
    expect(screen.getByText('10000 of 10000 nodes')).toBeTruthy();
  });

  it('filters as the user types and says how many match', () => {
    renderList(Array.from({ length: 30 }, (_, i) => node(i)));
    fireEvent.change(screen.getByLabelText('Filter nodes'), { target: { value: 'env=prod fleet-0001' } });
    expect([...document.querySelectorAll('.node-row[data-node] .name')].map((e) => e.textContent)).toEqual([
      'fleet-00012',
      'fleet-00015',
      'fleet-00018',
    ]);
    expect(screen.getByText('3 of 30 nodes')).toBeTruthy();
  });

  it('opens a shell on Enter and on double-click, and moves with the arrows', () => {
    const nodes = [node(1), node(2)];
    const props = renderList(nodes, nodes[0].id);
    const body = document.querySelector('.node-body') as HTMLElement;
    fireEvent.keyDown(body, { key: 'ArrowDown' });
    expect(props.onSelect).toHaveBeenCalledWith(nodes[1].id);
    fireEvent.keyDown(body, { key: 'Enter' });
    expect(props.onOpenShell).toHaveBeenCalledWith(nodes[0]);
    fireEvent.doubleClick(document.querySelector(`[data-node="${nodes[1].id}"]`) as HTMLElement);
    expect(props.onOpenShell).toHaveBeenLastCalledWith(nodes[1]);
  });

  it('says when loading failed, and why', () => {
    render(
      <NodeList
        nodes={[]}
        loading={false}
        error="No usable AWS credentials"
        selected={null}
        onSelect={vi.fn()}
        onOpenShell={vi.fn()}
        onStartSession={vi.fn()}
        onNewTunnel={vi.fn()}
        onRefresh={vi.fn()}
      />,
    );
    expect(screen.getByText('No usable AWS credentials')).toBeTruthy();
  });
});

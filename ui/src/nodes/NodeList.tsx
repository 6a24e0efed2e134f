// The node list: a filter bar and a virtualised table (only the rows in view exist in the
// DOM, so ten thousand nodes scroll as smoothly as ten). Arrow keys move the selection,
// Enter or a double-click opens a shell.

import { forwardRef, useEffect, useImperativeHandle, useMemo, useRef, useState } from 'react';
import type { ManagedNode } from '../backend/types';
import { applyFilter, facets, indexNodes, type NodeFilter } from './filter';

export const ROW_HEIGHT = 30;

function tagText(node: ManagedNode): string {
  return Object.entries(node.tags)
    .filter(([k]) => k !== 'Name')
    .map(([k, v]) => `${k}=${v}`)
    .join('  ');
}
const OVERSCAN = 8;

export interface NodeListHandle {
  focusFilter(): void;
}

interface Props {
  nodes: ManagedNode[];
  loading: boolean;
  error: string | null;
  /** What the list lacks, in words (said once, above the list). */
  notices?: string[];
  selected: string | null;
  onSelect: (id: string) => void;
  onOpenShell: (node: ManagedNode) => void;
  onStartSession: (node: ManagedNode) => void;
  onNewTunnel: (node: ManagedNode) => void;
  /** Remote Desktop to a Windows node. */
  onRdp?: (node: ManagedNode) => void;
  onRefresh: () => void;
}

export const NodeList = forwardRef<NodeListHandle, Props>(function NodeList(props, ref) {
  const {
    nodes,
    loading,
    error,
    notices = [],
    selected,
    onSelect,
    onOpenShell,
    onStartSession,
    onNewTunnel,
    onRdp,
    onRefresh,
  } = props;
  const [filter, setFilter] = useState<NodeFilter>({ text: '', platform: null, ping: null });
  const filterInput = useRef<HTMLInputElement>(null);
  const body = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);

  const index = useMemo(() => indexNodes(nodes), [nodes]);
  const shown = useMemo(() => applyFilter(index, filter), [index, filter]);
  const { platforms, pings } = useMemo(() => facets(nodes), [nodes]);

  useImperativeHandle(ref, () => ({
    focusFilter() {
      filterInput.current?.focus();
      filterInput.current?.select();
    },
  }));

  useEffect(() => {
    const element = body.current;
    if (!element) return undefined;
    const observer = new ResizeObserver(() => setHeight(element.clientHeight));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const selectedIndex = shown.findIndex((n) => n.id === selected);
  const selectedNode = selectedIndex >= 0 ? shown[selectedIndex] : null;

  const moveSelection = (to: number) => {
    if (shown.length === 0) return;
    const i = Math.max(0, Math.min(shown.length - 1, to));
    onSelect(shown[i].id);
    const element = body.current;
    if (element) {
      const top = i * ROW_HEIGHT;
      if (top < element.scrollTop) element.scrollTop = top;
      else if (top + ROW_HEIGHT > element.scrollTop + element.clientHeight)
        element.scrollTop = top + ROW_HEIGHT - element.clientHeight;
    }
  };

  const onKeyDown = (e: React.KeyboardEvent) => {
    const page = Math.max(1, Math.floor(height / ROW_HEIGHT) - 1);
    const moves: Record<string, number> = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
    if (e.key in moves) {
      e.preventDefault();
      moveSelection((selectedIndex < 0 ? -1 : selectedIndex) + moves[e.key]);
    } else if (e.key === 'Home' && e.target === body.current) {
      moveSelection(0);
    } else if (e.key === 'End' && e.target === body.current) {
      moveSelection(shown.length - 1);
    } else if (e.key === 'Enter' && selectedNode) {
      e.preventDefault();
      onOpenShell(selectedNode);
    }
  };

  return (
    <section className="node-list" aria-label="Managed nodes" onKeyDown={onKeyDown}>
      <div className="toolbar">
        <input
          ref={filterInput}
          className="filter"
          type="search"
          placeholder="Filter: words, env=prod, team:"
          aria-label="Filter nodes"
          value={filter.text}
          onChange={(e) => setFilter({ ...filter, text: e.target.value })}
        />
        <select
          aria-label="Platform"
          value={filter.platform ?? ''}
          onChange={(e) => setFilter({ ...filter, platform: e.target.value || null })}
        >
          <option value="">All platforms</option>
          {platforms.map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
        <select
          aria-label="Ping status"
          value={filter.ping ?? ''}
          onChange={(e) => setFilter({ ...filter, ping: e.target.value || null })}
        >
          <option value="">Any status</option>
          {pings.map((p) => (
            <option key={p}>{p}</option>
          ))}
        </select>
        <button onClick={onRefresh} disabled={loading} title="Refresh the list">
          {loading ? 'Loading…' : 'Refresh'}
        </button>
        <span className="count" aria-live="polite">
          {loading && nodes.length === 0 ? '' : `${shown.length} of ${nodes.length} nodes`}
        </span>
      </div>
      {notices.map((notice) => (
        <div key={notice} className="list-notice" role="note">
          {notice}
        </div>
      ))}
      <div className="node-actions">
        <button
          className="primary"
          disabled={!selectedNode}
          onClick={() => selectedNode && onOpenShell(selectedNode)}
        >
          Shell
        </button>
        <button disabled={!selectedNode} onClick={() => selectedNode && onStartSession(selectedNode)}>
          Start session…
        </button>
        <button disabled={!selectedNode} onClick={() => selectedNode && onNewTunnel(selectedNode)}>
          Tunnel…
        </button>
        {onRdp && selectedNode?.platformType.toLowerCase() === 'windows' && (
          <button
            onClick={() => onRdp(selectedNode)}
            title="Remote Desktop through a tunnel to the node's RDP port"
          >
            RDP…
          </button>
        )}
      </div>
      <div className="node-table" role="grid" aria-rowcount={shown.length}>
        <div className="node-row header" role="row">
          <span role="columnheader">Name</span>
          <span role="columnheader">Node</span>
          <span role="columnheader">Platform</span>
          <span role="columnheader">Status</span>
          <span role="columnheader">Agent</span>
          <span role="columnheader">IP address</span>
          <span role="columnheader">Tags</span>
        </div>
        <div
          className="node-body"
          ref={body}
          tabIndex={0}
          onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        >
          {error && <div className="empty error">{error}</div>}
          {!error && loading && nodes.length === 0 && (
            <div className="empty">
              <span className="spinner" /> Loading nodes…
            </div>
          )}
          {!error && !loading && nodes.length === 0 && (
            <div className="empty">No managed nodes in this account and region.</div>
          )}
          {!error && nodes.length > 0 && shown.length === 0 && (
            <div className="empty">No node matches the filter.</div>
          )}
          <div style={{ height: shown.length * ROW_HEIGHT, position: 'relative' }}>
            {shown.slice(first, last).map((node, i) => {
              const row = first + i;
              return (
                <div
                  key={node.id}
                  role="row"
                  aria-selected={node.id === selected}
                  className={`node-row${node.id === selected ? ' selected' : ''}`}
                  style={{ top: row * ROW_HEIGHT, height: ROW_HEIGHT }}
                  data-node={node.id}
                  onClick={() => onSelect(node.id)}
                  onDoubleClick={() => onOpenShell(node)}
                >
                  <span className="name" title={node.name}>
                    {node.name || '—'}
                  </span>
                  <span className="mono">{node.id}</span>
                  <span title={node.platformName}>{node.platformType}</span>
                  <span>
                    <span className={`dot ${node.pingStatus.toLowerCase()}`} /> {node.pingStatus}
                  </span>
                  <span className="mono">{node.agentVersion}</span>
                  <span className="mono">{node.ipAddress}</span>
                  <span className="tags" title={tagText(node)}>
                    {tagText(node)}
                  </span>
                </div>
              );
            })}
          </div>
        </div>
      </div>
    </section>
  );
});

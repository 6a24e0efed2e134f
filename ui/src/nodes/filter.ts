// The node list's filter, as the user types it. Plain words must each appear in the name, id,
// IP, platform or a tag; `key=value` or `key:` narrow by tag; the platform and ping status
// pickers narrow further. Everything is case-insensitive and runs on every keystroke, so it
// avoids allocations per node where it can.

import type { ManagedNode } from '../backend/types';

export interface NodeFilter {
  text: string;
  platform: string | null;
  ping: string | null;
}

interface ParsedText {
  words: string[];
  tags: Array<{ key: string; value: string | null }>;
}

/** Splits the typed text into words and tag conditions (`env=prod`, `team:`). */
export function parseText(text: string): ParsedText {
  const words: string[] = [];
  const tags: ParsedText['tags'] = [];
  for (const token of text.trim().toLowerCase().split(/\s+/)) {
    if (!token) continue;
    const eq = token.indexOf('=');
    if (eq > 0) {
      tags.push({ key: token.slice(0, eq), value: token.slice(eq + 1) });
    } else if (token.endsWith(':') && token.length > 1) {
      tags.push({ key: token.slice(0, -1), value: null });
    } else {
      words.push(token);
    }
  }
  return { words, tags };
}

/** A node's searchable text, lower-cased once per node list (see `indexNodes`). */
export interface IndexedNode {
  node: ManagedNode;
  haystack: string;
  tags: Map<string, string>;
}

export function indexNodes(nodes: ManagedNode[]): IndexedNode[] {
  return nodes.map((node) => {
    const tagText = Object.entries(node.tags)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const haystack = [
      node.name,
      node.id,
      node.ipAddress,
      node.platformName,
      node.platformType,
      node.agentVersion,
      tagText,
    ]
      .join(' ')
      .toLowerCase();
    const tags = new Map(Object.entries(node.tags).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]));
    return { node, haystack, tags };
  });
}

export function applyFilter(index: IndexedNode[], filter: NodeFilter): ManagedNode[] {
  const { words, tags } = parseText(filter.text);
  const platform = filter.platform?.toLowerCase() ?? null;
  const ping = filter.ping?.toLowerCase() ?? null;
  const out: ManagedNode[] = [];
  for (const entry of index) {
    const { node } = entry;
    if (platform && node.platformType.toLowerCase() !== platform) continue;
    if (ping && node.pingStatus.toLowerCase() !== ping) continue;
    if (
      !tags.every(
        ({ key, value }) =>
          entry.tags.has(key) && (value === null || value === '' || entry.tags.get(key) === value),
      )
    )
      continue;
    if (!words.every((word) => entry.haystack.includes(word))) continue;
    out.push(node);
  }
  return out;
}

/** The values offered by the pickers, from the nodes themselves. */
export function facets(nodes: ManagedNode[]): { platforms: string[]; pings: string[] } {
  const platforms = new Set<string>();
  const pings = new Set<string>();
  for (const node of nodes) {
    if (node.platformType) platforms.add(node.platformType);
    if (node.pingStatus) pings.add(node.pingStatus);
  }
  return { platforms: [...platforms].sort(), pings: [...pings].sort() };
}

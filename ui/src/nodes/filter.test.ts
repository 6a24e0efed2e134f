import { describe, expect, it } from 'vitest';
import type { ManagedNode } from '../backend/types';
import { applyFilter, facets, indexNodes, parseText } from './filter';

function node(
  id: string,
  name: string,
  platformType: string,
  pingStatus: string,
  tags: Record<string, string>,
): ManagedNode {
  return {
    id,
    name,
    platformType,
    platformName: 'Ubuntu',
    pingStatus,
    agentVersion: '3.3.1142.0',
    ipAddress: '10.0.0.1',
    state: 'running',
    tags,
  };
}

const nodes = [
  node('i-1', 'web-1', 'Linux', 'Online', { env: 'prod', team: 'web' }),
  node('i-2', 'db-1', 'Linux', 'ConnectionLost', { env: 'prod', team: 'data' }),
  node('mi-3', 'build', 'Windows', 'Online', { env: 'dev' }),
];
const index = indexNodes(nodes);
const ids = (text: string, platform: string | null = null, ping: string | null = null) =>
  applyFilter(index, { text, platform, ping }).map((n) => n.id);

describe('the node filter', () => {
  it('splits words from tag conditions', () => {
    expect(parseText('  Web  env=Prod team: ')).toEqual({
      words: ['web'],
      tags: [
        { key: 'env', value: 'prod' },
        { key: 'team', value: null },
      ],
    });
  });

  it('matches every word anywhere, case-insensitively', () => {
    expect(ids('')).toEqual(['i-1', 'i-2', 'mi-3']);
    expect(ids('WEB')).toEqual(['i-1']);
    expect(ids('prod db')).toEqual(['i-2']);
    expect(ids('nothing-like-this')).toEqual([]);
  });

  it('narrows by tag, platform and ping status', () => {
    expect(ids('env=prod')).toEqual(['i-1', 'i-2']);
    expect(ids('team:')).toEqual(['i-1', 'i-2']);
    expect(ids('', 'windows')).toEqual(['mi-3']);
    expect(ids('', null, 'Online')).toEqual(['i-1', 'mi-3']);
    expect(ids('env=prod', 'Linux', 'Online')).toEqual(['i-1']);
  });

  it('offers the platforms and statuses present', () => {
    expect(facets(nodes)).toEqual({ platforms: ['Linux', 'Windows'], pings: ['ConnectionLost', 'Online'] });
  });

  it('filters ten thousand nodes by a word', () => {
    const many = Array.from({ length: 10_000 }, (_, i) =>
      node(`i-${i}`, `fleet-${String(i).padStart(5, '0')}`, 'Linux', 'Online', {
        env: i % 3 ? 'dev' : 'prod',
      }),
    );
    const big = indexNodes(many);
    const found = applyFilter(big, { text: 'fleet-0999 env=prod', platform: null, ping: null });
    expect(found.map((n) => n.name)).toEqual(['fleet-09990', 'fleet-09993', 'fleet-09996', 'fleet-09999']);
  });
});

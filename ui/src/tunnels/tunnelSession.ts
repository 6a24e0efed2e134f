// One tunnel tab's live state, fed by the backend's messages and read by its view: the local
// address, the latest totals, the rate history, and how it ended. Restart starts the same
// tunnel again on the same local port.

import type { Backend } from '../backend/backend';
import { UserError } from '../backend/errors';
import type { ForwardFigures, TunnelFigures, TunnelMessage, TunnelRequest } from '../backend/types';
import { RateHistory } from './rates';

export type TunnelPhase =
  | { phase: 'starting' }
  | { phase: 'running'; id: number; localAddress: string }
  | { phase: 'ended'; reason: string; byUser: boolean; localAddress: string | null }
  | { phase: 'failed'; error: UserError };

/** How a tunnel is started: an ad-hoc request, or a saved profile by name. */
export type TunnelOrigin = { kind: 'request'; request: TunnelRequest } | { kind: 'profile'; name: string };

export class TunnelSession {
  phase: TunnelPhase = { phase: 'starting' };
  figures: TunnelFigures | null = null;
  /** Each forward's own figures when a saved profile holds several; empty otherwise. */
  forwards: ForwardFigures[] = [];
  history = new RateHistory();
  private listeners = new Set<() => void>();
  private generation = 0;

  constructor(
    private readonly backend: Backend,
    readonly origin: TunnelOrigin,
    private readonly now: () => number = () => Date.now(),
  ) {}

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed() {
    for (const listener of this.listeners) listener();
  }

  /** Starts the tunnel (again). Resolves once it runs or has failed. */
  async start(): Promise<void> {
    const generation = ++this.generation;
    const previousAddress = this.localAddress();
    this.phase = { phase: 'starting' };
    this.figures = null;
    this.forwards = [];
    this.history = new RateHistory();
    this.changed();
    const onMessage = (message: TunnelMessage) => {
      if (generation === this.generation) this.handle(message);
    };
    try {
      const started =
        this.origin.kind === 'profile'
          ? await this.backend.startProfile(this.origin.name, onMessage)
          : await this.backend.startTunnel(withPort(this.origin.request, previousAddress), onMessage);
      if (generation !== this.generation) return;
      if (this.phase.phase === 'starting') {
        this.phase = { phase: 'running', id: started.id, localAddress: started.localAddress };
      }
    } catch (error) {
      if (generation !== this.generation) return;
      this.phase = { phase: 'failed', error: UserError.from(error) };
    }
    this.changed();
  }

  async stop(): Promise<void> {
    if (this.phase.phase === 'running') await this.backend.stopTunnel(this.phase.id);
  }

  localAddress(): string | null {
    if (this.phase.phase === 'running') return this.phase.localAddress;
    if (this.phase.phase === 'ended') return this.phase.localAddress;
    return null;
  }

  private handle(message: TunnelMessage) {
    if (message.kind === 'figures') {
      this.figures = message.figures;
      this.forwards = message.forwards;
      this.history.add(this.now(), message.figures);
    } else {
      this.phase = {
        phase: 'ended',
        reason: message.reason,
        byUser: message.byUser,
        localAddress: this.localAddress(),
      };
    }
    this.changed();
  }
}

/** A restart keeps the port the first start got, so clients need not be told a new one. */
function withPort(request: TunnelRequest, previousAddress: string | null): TunnelRequest {
  if (request.localPort !== 0 || !previousAddress) return request;
  const port = Number(previousAddress.slice(previousAddress.lastIndexOf(':') + 1));
  return Number.isInteger(port) && port > 0 ? { ...request, localPort: port } : request;
}

import { describe, expect, it } from 'vitest';
import { OutputGate } from './outputGate';

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (chunks: Uint8Array[]) => chunks.map((c) => new TextDecoder().decode(c)).join('');

describe('a terminal tab’s output gate', () => {
  it('draws at once while shown, holds while hidden, and draws what it held in order when shown', () => {
    const drawn: Uint8Array[] = [];
    const gate = new OutputGate((data) => drawn.push(data));
    gate.output(bytes('a'));
    expect(text(drawn)).toBe('a');

    gate.setShown(false);
    gate.output(bytes('bc'));
    gate.output(bytes('d'));
    expect(text(drawn), 'nothing drawn (nor acknowledged) while hidden').toBe('a');
    expect(gate.heldBytes).toBe(3);

    gate.setShown(true);
    expect(text(drawn)).toBe('abcd');
    expect(gate.heldBytes).toBe(0);
    gate.output(bytes('e'));
    expect(text(drawn)).toBe('abcde');
  });

  it('flushes what it holds before a line that must follow it', () => {
    const drawn: Uint8Array[] = [];
    const gate = new OutputGate((data) => drawn.push(data));
    gate.setShown(false);
    gate.output(bytes('last output'));
    gate.flush();
    drawn.push(bytes(' [session ended]'));
    expect(text(drawn)).toBe('last output [session ended]');
  });
});

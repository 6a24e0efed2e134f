// When a terminal tab draws its session's output: at once while the tab is shown; while it is
// hidden the output is held, undrawn and unacknowledged, so a hidden tab costs the page no
// parsing, and the engine, which stops reading a session while too much of its output is
// unacknowledged, pauses the node (backpressure). What is held is therefore bounded by the
// engine's window, and it is drawn, in order, when the tab is shown again.

export class OutputGate {
  private held: Uint8Array[] = [];
  private shown = true;

  constructor(private readonly draw: (data: Uint8Array) => void) {}

  /** Output from the session. */
  output(data: Uint8Array) {
    if (this.shown) this.draw(data);
    else this.held.push(data);
  }

  /** Draws what is held, before something that must come after it (the line saying the
   *  session ended) or when the tab is shown. */
  flush() {
    for (const data of this.held.splice(0)) this.draw(data);
  }

  setShown(shown: boolean) {
    this.shown = shown;
    if (shown) this.flush();
  }

  /** Bytes held undrawn. */
  get heldBytes(): number {
    return this.held.reduce((sum, data) => sum + data.length, 0);
  }
}

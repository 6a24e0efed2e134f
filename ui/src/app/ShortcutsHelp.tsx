import { Dialog } from './Dialog';
import { SHORTCUTS } from './shortcuts';

export function ShortcutsHelp({ onClose }: { onClose: () => void }) {
  return (
    <Dialog title="Keyboard shortcuts" onClose={onClose}>
      <table className="shortcuts">
        <tbody>
          {SHORTCUTS.map((s) => (
            <tr key={s.action}>
              <td>
                <kbd>{s.keys}</kbd>
              </td>
              <td>{s.description}</td>
            </tr>
          ))}
          <tr>
            <td>
              <kbd>Enter</kbd> / double-click
            </td>
            <td>Open a shell on the selected node</td>
          </tr>
        </tbody>
      </table>
      <p className="hint">Plain Ctrl keys (Ctrl-C, Ctrl-D, Ctrl-W…) always go to the shell.</p>
    </Dialog>
  );
}

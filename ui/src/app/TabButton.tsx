// One tab of the strip: its state as a coloured dot and a tooltip (with the reconnect countdown
// while a shell reconnects), a lock for a KMS-encrypted shell, and a close button.

import { stateLabel, type Tab } from './tabs';
import { useNow } from './useNow';

export function TabButton({
  tab,
  active,
  onActivate,
  onClose,
}: {
  tab: Tab;
  active: boolean;
  onActivate: () => void;
  onClose: () => void;
}) {
  // The countdown of a reconnecting shell moves once a second; otherwise nothing ticks.
  const counting = tab.kind === 'shell' && tab.state.state === 'reconnecting';
  const now = useNow(counting ? 1000 : null);
  const label = tab.kind === 'shell' ? stateLabel(tab.state, now, tab.stateSince) : 'Tunnel';
  const status = tab.kind === 'shell' ? tab.state.state : 'tunnel';
  const key = tab.kind === 'shell' && tab.state.state === 'connected' ? tab.state.encryptedWith : null;
  const message =
    tab.kind === 'shell' && tab.state.state === 'connected' && tab.state.message
      ? ` — ${tab.state.message}`
      : '';
  return (
    <div
      role="tab"
      aria-selected={active}
      className={`tab ${status}${active ? ' active' : ''}`}
      data-tab={tab.key}
      onClick={onActivate}
      title={`${tab.title} — ${label}${message}`}
      onAuxClick={(e) => e.button === 1 && onClose()}
    >
      <span className={`tab-dot ${status}`} />
      {key && (
        <span
          className="tab-lock"
          data-encrypted-with={key}
          title={`Encrypted end to end with the KMS key ${key}`}
          aria-label={`Encrypted with KMS key ${key}`}
        >
          <svg viewBox="0 0 16 16" width="11" height="11" aria-hidden="true">
            <path fill="currentColor" d="M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 0 0-4 0v2z" />
          </svg>
        </span>
      )}
      <span className="tab-title">
        {tab.kind === 'tunnel' ? '⇄ ' : ''}
        {tab.title}
      </span>
      <button
        className="tab-close"
        aria-label={`Close ${tab.title}`}
        onClick={(e) => {
          e.stopPropagation();
          onClose();
        }}
      >
        ✕
      </button>
    </div>
  );
}

// The desktop's side of D-Bus, as a panel and a notification daemon give it, for the tests of
// the tray and the notifications on a bare session bus (Xvfb has neither):
//  - a StatusNotifierWatcher (the KDE/freedesktop tray protocol libayatana-appindicator
//    speaks), which records the items that register and reads and clicks their menus through
//    com.canonical.dbusmenu, as a panel does;
//  - an org.freedesktop.Notifications server, which records each notification it is asked to show.
// Start them before the app, so the app finds a tray and a notification daemon.

import dbus from 'dbus-next';

const { Message, MessageType, Variant } = dbus;
const WATCHER = 'org.kde.StatusNotifierWatcher';
const NOTIFICATIONS = 'org.freedesktop.Notifications';
const PROPERTIES = 'org.freedesktop.DBus.Properties';
/** The bus itself: its name, path and interface. */
const DBUS = ['org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus'];

function reply(bus, msg, signature, body) {
  bus.send(Message.newMethodReturn(msg, signature, body));
  return true;
}

async function own(bus, name) {
  const granted = await bus.requestName(name, dbus.NameFlag.DO_NOT_QUEUE);
  if (granted !== dbus.RequestNameReply.PRIMARY_OWNER) throw new Error(`${name} is already owned on this D-Bus session`);
}

async function call(bus, destination, path, iface, member, signature = '', body = []) {
  const answer = await bus.call(new Message({ destination, path, interface: iface, member, signature, body }));
  if (answer.type === MessageType.ERROR) throw new Error(`${iface}.${member}: ${answer.body[0]}`);
  return answer.body;
}

/** A menu layout as [{ id, label, enabled }], from dbusmenu's (ia{sv}av) tree. */
function flatten([id, props, children], into = []) {
  if (props.label) into.push({ id, label: props.label.value, enabled: props.enabled?.value !== false });
  for (const child of children) flatten(child.value, into);
  return into;
}

/** A tray host on the session bus: resolves with `items` (the registered items, as
 *  { sender, path }), `menu(item)` (its labels and ids), `click(item, id)`, `gone(name)` (to
 *  see an app leave), `kill(sender)` and `stop()`. */
export async function trayHost() {
  const bus = dbus.sessionBus();
  const items = [];
  bus.addMethodHandler((msg) => {
    if (msg.path !== '/StatusNotifierWatcher') return false;
    if (msg.interface === WATCHER && msg.member === 'RegisterStatusNotifierItem') {
      const [service] = msg.body;
      // An item names its object path (libayatana-appindicator) or a bus name of its own.
      items.push(service.startsWith('/') ? { sender: msg.sender, path: service } : { sender: service, path: '/StatusNotifierItem' });
      return reply(bus, msg, '', []);
    }
    if (msg.interface === WATCHER && msg.member === 'RegisterStatusNotifierHost') return reply(bus, msg, '', []);
    if (msg.interface === PROPERTIES) {
      const all = {
        RegisteredStatusNotifierItems: new Variant('as', items.map((item) => `${item.sender}${item.path}`)),
        IsStatusNotifierHostRegistered: new Variant('b', true),
        ProtocolVersion: new Variant('i', 0),
      };
      if (msg.member === 'GetAll') return reply(bus, msg, 'a{sv}', [all]);
      if (msg.member === 'Get' && all[msg.body[1]]) return reply(bus, msg, 'v', [all[msg.body[1]]]);
    }
    return false;
  });
  await own(bus, WATCHER);
  const menuPath = async (item) => {
    const [menu] = await call(bus, item.sender, item.path, PROPERTIES, 'Get', 'ss', ['org.kde.StatusNotifierItem', 'Menu']);
    return menu.value;
  };
  return {
    items,
    async menu(item) {
      const [, layout] = await call(bus, item.sender, await menuPath(item), 'com.canonical.dbusmenu', 'GetLayout', 'iias', [0, -1, []]);
      return flatten(layout);
    },
    async click(item, id) {
      await call(bus, item.sender, await menuPath(item), 'com.canonical.dbusmenu', 'Event', 'isvu', [id, 'clicked', new Variant('i', 0), 0]);
    },
    /** Stops the process behind a bus name, if it is still there. */
    async kill(sender) {
      try {
        const [pid] = await call(bus, ...DBUS, 'GetConnectionUnixProcessID', 's', [sender]);
        process.kill(pid);
      } catch {
        // Gone already.
      }
    },
    /** Resolves when `name` leaves the bus (its NameOwnerChanged to no owner), or at once
     *  if it has left already. */
    async gone(name) {
      let listener;
      const left = new Promise((resolve) => {
        listener = (msg) => {
          const [changed, , owner] = msg.body ?? [];
          if (msg.type === MessageType.SIGNAL && msg.member === 'NameOwnerChanged' && changed === name && owner === '') resolve();
        };
        bus.on('message', listener);
      });
      try {
        await call(bus, ...DBUS, 'AddMatch', 's', [`type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${name}'`]);
        const [names] = await call(bus, ...DBUS, 'ListNames');
        if (names.includes(name)) await left;
      } finally {
        bus.off('message', listener);
      }
    },
    stop: () => bus.disconnect(),
  };
}

/** A notification daemon on the session bus: resolves with `shown` (each notification as
 *  { app, summary, body }) and `stop()`. */
export async function notificationDaemon() {
  const bus = dbus.sessionBus();
  const shown = [];
  bus.addMethodHandler((msg) => {
    if (msg.interface !== NOTIFICATIONS || msg.path !== '/org/freedesktop/Notifications') return false;
    switch (msg.member) {
      case 'Notify': {
        const [app, , , summary, body] = msg.body;
        shown.push({ app, summary, body });
        return reply(bus, msg, 'u', [shown.length]);
      }
      case 'GetCapabilities':
        return reply(bus, msg, 'as', [['body']]);
      case 'GetServerInformation':
        return reply(bus, msg, 'ssss', ['airlock-tests', 'airlock', '1', '1.2']);
      case 'CloseNotification':
        return reply(bus, msg, '', []);
      default:
        return false;
    }
  });
  await own(bus, NOTIFICATIONS);
  return { shown, stop: () => bus.disconnect() };
}

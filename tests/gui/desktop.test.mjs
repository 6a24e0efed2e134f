// The app on the desktop: its window where it was left, across a restart; closing it while a
// tunnel runs asks, keeps the tunnel with the window hidden, and a second launch brings the
// window back instead of starting another app; the tray's menu starts and stops a saved tunnel
// and quits; a dropped tunnel is a desktop notification. The window is moved and closed as a
// window manager would (tests/gui/x11.py, on Xvfb without one); the tray and the notification
// daemon are the ones tests/gui/desktop-bus.mjs puts on the test's D-Bus session.

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, it } from 'node:test';
import { notificationDaemon, trayHost } from './desktop-bus.mjs';
import { APP, HANG_GUARD, freshHome, nodeListShows, startDriver, startTunnel, until } from './harness.mjs';

const X11 = path.join(import.meta.dirname, 'x11.py');

/** What x11.py says or does to the window titled Airlock. */
function x11(...args) {
  return JSON.parse(execFileSync('/usr/bin/python3', [X11, 'Airlock', ...args], { encoding: 'utf8' }));
}

function settings(home) {
  try {
    return readFileSync(path.join(home, '.config', 'airlock', 'settings.toml'), 'utf8');
  } catch {
    return '';
  }
}

/** A web server on a free local port; `close()` ends its connections too (a tunnel may hold one). */
async function webServer(page) {
  const server = http.createServer((_req, res) => res.end(page));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.stop = () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  };
  return server;
}

/** A second launch of the app on the same home: resolves with its exit code and output. */
function launchAgain(home) {
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') };
  return new Promise((resolve) => {
    execFile(APP, [], { env, timeout: 60_000 }, (error, stdout) => resolve({ code: error ? (error.code ?? 1) : 0, stdout }));
  });
}

describe('Airlock on the desktop', () => {
  it('opens its window where it was left, after a restart', async () => {
    const home = freshHome('window');
    let driver = await startDriver(home);
    let browser = await driver.launch();
    try {
      await nodeListShows(browser);
      x11('place', '60', '40', '1000', '650');
      await until(browser, 'the window place remembered', async () => /x = 60\s+y = 40\s+width = 1000\s+height = 650/.test(settings(home)));
    } finally {
      await browser.deleteSession();
      await driver.stop();
    }
    driver = await startDriver(home);
    browser = await driver.launch();
    try {
      await nodeListShows(browser);
      const [window] = x11('state').filter((w) => w.shown);
      assert.deepEqual(window, { shown: true, x: 60, y: 40, width: 1000, height: 650 });
    } finally {
      await browser.deleteSession();
      await driver.stop();
    }
  });

  it('asks when closed with a tunnel running, keeps it with the window hidden, and a second launch shows the window', async () => {
    const server = await webServer('still here');
    const home = freshHome('close');
    const driver = await startDriver(home);
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      const address = await startTunnel(browser, server.address().port);

      x11('close');
      const dialog = await browser.$('[role="dialog"][aria-label="Tunnels are running"]');
      await dialog.waitForExist({ timeout: 60_000 });
      await (await dialog.$('input[type="checkbox"]')).click();
      // Clicked from the page: WebDriver's own click waits for a paint a hidden window never makes.
      await browser.execute(() => [...document.querySelectorAll('[role="dialog"] button')].find((b) => b.textContent === 'Keep running').click());
      await until(browser, 'the window hidden', async () => x11('state').every((w) => !w.shown));
      const page = await (await fetch(`http://${address}/`)).text();
      assert.equal(page, 'still here', 'the tunnel runs on with the window hidden');
      assert.match(settings(home), /close_with_tunnels = "keep-running"/);

      const again = await launchAgain(home);
      assert.equal(again.code, 0, 'a second launch exits, it does not run a second app');
      assert.match(again.stdout, /already running/);
      await until(browser, 'the window shown again', async () => x11('state').some((w) => w.shown));

      x11('close');
      await until(browser, 'the window hidden without asking (remembered)', async () => x11('state').every((w) => !w.shown));
    } finally {
      // The app may have quit under the driver: a failed step's error is the one to see.
      await browser.deleteSession().catch(() => {});
      await driver.stop();
      await server.stop();
    }
  });

  it('lists saved tunnels in the tray, starts and stops one from there, and quits from it', async () => {
    const server = await webServer('from the tray');
    const tray = await trayHost();
    const home = freshHome('tray');
    execFileSync(path.join(path.dirname(APP), 'airlock'), ['profile', 'add', 'web-page', 'web-1', '--port', String(server.address().port)], {
      env: { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') },
    });
    const driver = await startDriver(home);
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      await until(browser, 'the app in the tray', async () => tray.items.length > 0);
      const [item] = tray.items;
      const entry = async (pattern) => (await tray.menu(item)).find((e) => pattern.test(e.label));
      await until(browser, 'the saved tunnel offered in the tray', async () => Boolean(await entry(/^▶ Start web-page$/)));
      const labels = (await tray.menu(item)).map((e) => e.label);
      assert.ok(labels.includes('Open Airlock') && labels.includes('Quit Airlock'), `the tray's menu: ${labels.join(', ')}`);

      await tray.click(item, (await entry(/^▶ Start web-page$/)).id);
      let address = '';
      await until(browser, 'the tray says it runs, and where', async () => {
        address = (await entry(/^■ Stop web-page \(running on /))?.label.match(/running on (\S+)\)$/)?.[1] ?? '';
        return address !== '';
      });
      assert.equal(await (await fetch(`http://${address}/`)).text(), 'from the tray');
      await until(browser, 'the window shows it running too', async () =>
        /Running/.test(await (await browser.$('[data-profile="web-page"]')).getProperty('textContent')),
      );

      await tray.click(item, (await entry(/^■ Stop web-page/)).id);
      await until(browser, 'the tray offers to start it again', async () => Boolean(await entry(/^▶ Start web-page$/)));
      await assert.rejects(fetch(`http://${address}/`), 'the stopped tunnel no longer listens');

      await tray.click(item, (await entry(/^Quit Airlock$/)).id);
      // Waited for on the bus (the browser went with the app), with a guard against a hang.
      let guard;
      const hung = new Promise((_, reject) => {
        guard = setTimeout(() => reject(new Error('never happened: the app left the bus after Quit')), HANG_GUARD);
      });
      await Promise.race([tray.gone(item.sender), hung]).finally(() => clearTimeout(guard));
    } finally {
      await browser.deleteSession().catch(() => {});
      // A failed step may leave the app running in the tray, where closing its window keeps it.
      for (const { sender } of tray.items) await tray.kill(sender);
      await driver.stop();
      tray.stop();
      await server.stop();
    }
  });

  it('says on the desktop when a tunnel drops and cannot come back', async () => {
    const server = await webServer('soon gone');
    const daemon = await notificationDaemon();
    const driver = await startDriver(freshHome('notify'));
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      await startTunnel(browser, server.address().port);
      assert.deepEqual(daemon.shown, [], 'nothing said while the tunnel runs');
      // Its session terminated (here from the Sessions view; any client could): no reconnect.
      await (await browser.$('button=Sessions')).click();
      const row = await browser.$('.sessions-table tr[data-session]');
      await until(browser, 'the tunnel listed as a session', async () => row.isExisting());
      await (await row.$('button=Terminate…')).click();
      await (await row.$('button=Terminate')).click();
      await until(browser, 'a notification shown', async () => daemon.shown.length > 0);
      const [shown] = daemon.shown;
      assert.match(shown.summary, /^Tunnel .+ dropped$/);
      assert.match(shown.body, /Start it again from Airlock\.$/);
      assert.equal(daemon.shown.length, 1, 'one notification for one drop');
    } finally {
      await browser.deleteSession();
      await driver.stop();
      daemon.stop();
      await server.stop();
    }
  });
});

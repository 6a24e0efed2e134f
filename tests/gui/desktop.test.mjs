// The app on the desktop: its window where it was left, across a restart; closing it while a
// tunnel runs asks, keeps the tunnel with the window hidden, and a second launch brings the
// window back instead of starting another app. The window is moved and closed as a window
// manager would (tests/gui/x11.py, on Xvfb without one).

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, it } from 'node:test';
import { APP, freshHome, startDriver, until } from './harness.mjs';

const WEB = 'i-0a1b2c3d4e5f60001';
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

async function nodeListShows(browser) {
  await until(browser, 'the demo fleet listed', async () => (await browser.$(`.node-row[data-node="${WEB}"]`)).isExisting());
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
    const server = http.createServer((_req, res) => res.end('still here'));
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const home = freshHome('close');
    const driver = await startDriver(home);
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      await (await browser.$(`.node-row[data-node="${WEB}"]`)).click();
      await (await browser.$('button=Tunnel…')).click();
      await (await browser.$('input[aria-label="Remote port"]')).setValue(String(server.address().port));
      await (await browser.$('input[aria-label="Local port"]')).setValue('0');
      await (await browser.$('button=Start tunnel')).click();
      let address = '';
      await until(browser, 'the tunnel runs', async () => {
        const code = await browser.$('.tunnel-tab:not([hidden]) code[data-local-address]');
        address = (await code.isExisting()) ? await code.getAttribute('data-local-address') : '';
        return address.includes(':');
      });

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
      await new Promise((r) => server.close(r));
    }
  });
});

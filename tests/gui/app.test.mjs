// The built app in a real WebKit, driven over WebDriver, on its demo fleet: the node list, a
// shell, a tunnel to a local web server, a saved profile across a restart, and a taken local
// port. Each test leaves a screenshot in artifacts/gui/.

import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  APP,
  WEB,
  activeTabKey,
  freshHome,
  nodeListShows,
  openTunnelForm,
  screenText,
  screenshot,
  startDriver,
  tunnelAddress,
  until,
} from './harness.mjs';

const PAGE = 'Hello through Airlock';

const execFileAsync = promisify(execFile);

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** An element's text, hidden or not; '' while it is absent. */
async function textOf(browser, selector) {
  const element = await browser.$(selector);
  return (await element.isExisting()) ? element.getProperty('textContent') : '';
}

/** A web server on a free local port (a "node's port" on the demo fleet is a local port). */
async function webServer(page = PAGE) {
  const server = http.createServer((_req, res) => res.end(`<h1>${page}</h1>`));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, close: () => new Promise((r) => server.close(r)) };
}

describe('Airlock on its demo fleet', () => {
  let server;
  before(async () => {
    server = await webServer();
  });
  after(async () => {
    await server.close();
  });

  it('lists the demo fleet and says it is a demo', async () => {
    const driver = await startDriver(freshHome('nodes'));
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      const row = await (await browser.$(`.node-row[data-node="${WEB}"]`)).getProperty('textContent');
      assert.match(row, /web-1/);
      assert.match(row, /Online/);
      assert.match(await (await browser.$('.demo-badge')).getText(), /Demo fleet/);
      await until(browser, 'the identity shown', async () => /123456789012/.test(await (await browser.$('.identity')).getText()));
      await screenshot(browser, 'node-list');
    } finally {
      await browser.deleteSession();
      await driver.stop();
    }
  });

  it('opens a shell tab where echo $((6*7)) prints 42', async () => {
    const driver = await startDriver(freshHome('shell'));
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      await (await browser.$(`.node-row[data-node="${WEB}"]`)).doubleClick();
      const key = await activeTabKey(browser);
      await until(browser, 'the shell connected', async () => (await browser.$(`.tab.connected[data-tab="${key}"]`)).isExisting());
      await until(browser, 'a prompt', async () => (await screenText(browser, key)).trim().length > 0);
      const input = await browser.$(`.terminal-tab[data-tab="${key}"] .xterm-helper-textarea`);
      await input.addValue('echo $((6*7))');
      await browser.keys('Enter');
      await until(browser, '42 on the screen', async () => (await screenText(browser, key)).split('\n').some((line) => line.trim() === '42'));
      await screenshot(browser, 'shell-tab');
    } finally {
      await browser.deleteSession();
      await driver.stop();
    }
  });

  it('sends a file to the node from a shell tab and gets it back, byte-exact', async () => {
    const home = freshHome('copy');
    // Every byte value: the demo fleet's node runs on this machine, so its paths are ours.
    const contents = Buffer.from(Array.from({ length: 96 * 1024 + 1 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));
    const original = path.join(home, 'payload.bin');
    fs.writeFileSync(original, contents);
    const nodeDir = fs.mkdtempSync(path.join(home, 'node-'));
    const back = fs.mkdtempSync(path.join(home, 'back-'));
    const driver = await startDriver(home);
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      await (await browser.$(`.node-row[data-node="${WEB}"]`)).doubleClick();
      const key = await activeTabKey(browser);
      await until(browser, 'the shell connected', async () => (await browser.$(`.tab.connected[data-tab="${key}"]`)).isExisting());
      const tab = `.terminal-tab[data-tab="${key}"]`;
      await (await (await browser.$(tab)).$('button=Send file…')).click();
      await (await browser.$('[aria-label="File on this machine"]')).setValue(original);
      await (await browser.$('[aria-label="Path on the node"]')).setValue(`${nodeDir}/`);
      await (await browser.$('button=Send')).click();
      await until(browser, 'the upload done', async () => /^Copied /.test(await textOf(browser, '.copy-result [role="status"]')));
      await screenshot(browser, 'file-sent');
      assert.ok(fs.readFileSync(path.join(nodeDir, 'payload.bin')).equals(contents), 'the upload arrived changed');
      assert.match(await textOf(browser, '.copy-result .hint'), new RegExp(sha256(contents)));
      await (await browser.$('button=Close')).click();

      await (await (await browser.$(tab)).$('button=Get file…')).click();
      await (await browser.$('[aria-label="File on the node"]')).setValue(path.join(nodeDir, 'payload.bin'));
      await (await browser.$('[aria-label="Save to"]')).setValue(back);
      await (await browser.$('button=Get')).click();
      await until(browser, 'the download done', async () => /^Copied /.test(await textOf(browser, '.copy-result [role="status"]')));
      assert.ok(fs.readFileSync(path.join(back, 'payload.bin')).equals(contents), 'the download arrived changed');
      assert.deepEqual(fs.readdirSync(back), ['payload.bin'], 'no partial file is left');
      await (await browser.$('button=Close')).click();

      // A file the node does not have: said, and nothing is written here.
      await (await (await browser.$(tab)).$('button=Get file…')).click();
      await (await browser.$('[aria-label="File on the node"]')).setValue(path.join(nodeDir, 'missing.bin'));
      await (await browser.$('[aria-label="Save to"]')).setValue(back);
      await (await browser.$('button=Get')).click();
      await until(browser, 'the failure said', async () => /not a file this session's user can read/.test(await textOf(browser, '.copy-result [role="alert"]')));
      assert.deepEqual(fs.readdirSync(back), ['payload.bin']);
    } finally {
      await browser.deleteSession();
      await driver.stop();
    }
  });

  it('lists the open shell in Sessions, terminates it there, and the shell tab ends', async () => {
    const driver = await startDriver(freshHome('sessions'));
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      await (await browser.$(`.node-row[data-node="${WEB}"]`)).doubleClick();
      const key = await activeTabKey(browser);
      await until(browser, 'the shell connected', async () => (await browser.$(`.tab.connected[data-tab="${key}"]`)).isExisting());
      await (await browser.$('button=Sessions')).click();
      const row = await browser.$('.sessions-table tr[data-session]');
      await until(browser, 'the shell listed as a session', async () => row.isExisting());
      const text = await row.getText();
      assert.match(text, /web-1/);
      assert.match(text, /Connected/);
      await screenshot(browser, 'sessions-view');
      await (await row.$('button=Terminate…')).click();
      await (await row.$('button=Terminate')).click();
      await until(browser, 'no active session left', async () => /No active sessions/.test(await (await browser.$('.sessions')).getText()));
      await browser.keys('Escape');
      await until(browser, 'the shell tab ended', async () => (await browser.$(`.tab.ended[data-tab="${key}"]`)).isExisting());
      await (await browser.$('button=Sessions')).click();
      await (await browser.$('[role="tab"]=History')).click();
      await until(browser, 'the session in the history', async () => /Terminated/.test(await (await browser.$('.sessions')).getText()));
    } finally {
      await browser.deleteSession();
      await driver.stop();
    }
  });

  it('runs a tunnel to a local web server and serves its page through the local port', async () => {
    const driver = await startDriver(freshHome('tunnel'));
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      await openTunnelForm(browser, server.port);
      await (await browser.$('button=Start tunnel')).click();
      const address = await tunnelAddress(browser);
      const page = await (await fetch(`http://${address}/`)).text();
      assert.match(page, new RegExp(PAGE));
      // The tab's live figures count the page's bytes and the connection.
      const detail = async (figure) => (await browser.$(`.tunnel-tab:not([hidden]) .figure${figure} .detail`)).getText();
      await until(browser, 'the page\'s bytes counted', async () => /^[1-9][\d.]* \S*B total$/.test(await detail('.down')));
      await until(browser, 'the connection counted', async () => /^[1-9]\d* since start/.test(await detail(':nth-child(3)')));
      await screenshot(browser, 'tunnel-tab');
    } finally {
      await browser.deleteSession();
      await driver.stop();
    }
  });

  it('runs a SOCKS proxy through the node that reaches a web server by name', async () => {
    const driver = await startDriver(freshHome('socks'));
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      await (await browser.$(`.node-row[data-node="${WEB}"]`)).click();
      await (await browser.$('button=Tunnel…')).click();
      await (await browser.$('select[aria-label="Kind"]')).selectByAttribute('value', 'socks');
      await (await browser.$('button=Start tunnel')).click();
      const address = await tunnelAddress(browser);
      // curl hands the name to the proxy (--socks5-hostname): the node resolves "localhost".
      // Asynchronously: the web server it reaches runs in this process.
      const { stdout: page } = await execFileAsync('curl', [
        '-sS',
        '--max-time',
        '60',
        '--socks5-hostname',
        address,
        `http://localhost:${server.port}/`,
      ]);
      assert.match(page, new RegExp(PAGE));
      const detail = async (figure) => (await browser.$(`.tunnel-tab:not([hidden]) .figure${figure} .detail`)).getText();
      await until(browser, "the page's bytes counted", async () => /^[1-9][\d.]* \S*B total$/.test(await detail('.down')));
      assert.match(await (await browser.$('.tab.active[data-tab]')).getProperty('textContent'), /SOCKS via web-1/);
      await screenshot(browser, 'socks-tab');
    } finally {
      await browser.deleteSession();
      await driver.stop();
    }
  });

  it('keeps a saved profile across a restart and starts it', async () => {
    const home = freshHome('profile');
    const driver = await startDriver(home);
    try {
      let browser = await driver.launch();
      try {
        await nodeListShows(browser);
        await (await browser.$(`.node-row[data-node="${WEB}"]`)).click();
        await (await (await browser.$('.profiles')).$('button=New')).click();
        await (await browser.$('.dialog input[aria-label="Name"]')).setValue('web-page');
        await (await browser.$('.dialog input[aria-label="Remote port"]')).setValue(String(server.port));
        await (await (await browser.$('.dialog')).$('button=Save')).click();
        await until(browser, 'the profile listed', async () => (await browser.$('[data-profile="web-page"]')).isExisting());
      } finally {
        await browser.deleteSession();
      }
      browser = await driver.launch();
      try {
        await until(browser, 'the profile listed after a restart', async () => (await browser.$('[data-profile="web-page"]')).isExisting());
        await (await browser.$('button[aria-label="Start web-page"]')).click();
        const address = await tunnelAddress(browser);
        assert.match(await (await fetch(`http://${address}/`)).text(), new RegExp(PAGE));
        await screenshot(browser, 'profile-started');
      } finally {
        await browser.deleteSession();
      }
    } finally {
      await driver.stop();
    }
  });

  it('starts a profile of two forwards together, with each one\'s figures, and stops them together', async () => {
    const second = await webServer('The second forward');
    const driver = await startDriver(freshHome('group'));
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      await (await browser.$(`.node-row[data-node="${WEB}"]`)).click();
      await (await (await browser.$('.profiles')).$('button=New')).click();
      const dialog = await browser.$('.dialog');
      await (await dialog.$('input[aria-label="Name"]')).setValue('stack');
      await (await dialog.$('input[aria-label="Remote port"]')).setValue(String(server.port));
      await (await dialog.$('button=Add forward')).click();
      await (await dialog.$('input[aria-label="Forward 2 remote port"]')).setValue(String(second.port));
      await (await dialog.$('input[aria-label="Forward 2 remote host"]')).setValue('localhost');
      await (await dialog.$('button=Save')).click();
      await until(browser, 'the group listed', async () => (await browser.$('[data-profile="stack"]')).isExisting());
      assert.match(await textOf(browser, '[data-profile="stack"]'), new RegExp(`\\+ 127\\.0\\.0\\.1:any → localhost:${second.port}`));

      await (await browser.$('button[aria-label="Start stack"]')).click();
      const rows = '.tunnel-tab:not([hidden]) [data-forward-address]';
      await until(browser, 'a row for each forward', async () => (await browser.$$(rows)).length === 2);
      // One WebDriver command at a time: WebKitWebDriver drops the session on parallel ones.
      const addresses = [];
      for (const row of await browser.$$(rows)) addresses.push(await row.getAttribute('data-forward-address'));
      assert.match(await (await fetch(`http://${addresses[0]}/`)).text(), new RegExp(PAGE));
      assert.match(await (await fetch(`http://${addresses[1]}/`)).text(), /The second forward/);
      const row = (i) => textOf(browser, `${rows}[data-forward-address="${addresses[i]}"]`);
      for (const i of [0, 1]) {
        await until(browser, `forward ${i + 1}'s connection counted`, async () => /1 since start/.test(await row(i)));
      }
      assert.match(await row(1), new RegExp(`localhost:${second.port} through ${WEB}`));
      await screenshot(browser, 'group-tab');

      await (await (await browser.$('.tunnel-tab:not([hidden])')).$('button=Stop')).click();
      await until(browser, 'the group stopped', async () => /Stopped/.test(await textOf(browser, '.tunnel-tab:not([hidden]) .tunnel-phase')));
      await until(browser, 'the profile startable again', async () => (await (await browser.$('button[aria-label="Start stack"]')).getProperty('textContent')) === 'Start');
    } finally {
      await browser.deleteSession();
      await driver.stop();
      await second.close();
    }
  });

  it('opens Remote Desktop to the Windows node: a tunnel, the RDP client on it, and the password', async () => {
    // A stand-in RDP client, found on the PATH as FreeRDP is: it writes down its arguments.
    const home = freshHome('rdp');
    const bin = path.join(home, 'bin');
    fs.mkdirSync(bin);
    const record = path.join(home, 'rdp-client-args');
    fs.writeFileSync(path.join(bin, 'xfreerdp'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${record}.part && mv ${record}.part ${record}\n`, { mode: 0o755 });
    const driver = await startDriver(home, { PATH: `${bin}:${process.env.PATH}` });
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      await (await browser.$('.node-row[data-node="i-0a1b2c3d4e5f60004"]')).click();
      await (await browser.$('button=RDP…')).click();
      const dialog = await browser.$('.dialog');
      await until(browser, 'the demo key pair offered', async () => /demo-win-1-key\.pem$/.test(await (await dialog.$('input[aria-label="Key pair file"]')).getValue()));
      // The node's "RDP port" is the local web server (a node's port is a local one here).
      await (await dialog.$('input[aria-label="RDP port"]')).setValue(String(server.port));
      await (await dialog.$('button=Connect')).click();
      await until(browser, 'the client started', async () => /Started FreeRDP/.test(await textOf(browser, '.dialog .rdp-client')));
      const address = await (await browser.$('.dialog [data-rdp-address]')).getProperty('textContent');
      assert.match(await (await fetch(`http://${address}/`)).text(), new RegExp(PAGE));
      await until(browser, 'the client wrote its arguments', async () => fs.existsSync(record));
      assert.equal(fs.readFileSync(record, 'utf8'), `/v:${address}\n/u:Administrator\n`);
      assert.doesNotMatch(await textOf(browser, '.dialog'), /Demo-Windows-Admin-2026!/, 'hidden until Show');
      await (await (await browser.$('.dialog')).$('button=Show')).click();
      assert.match(await textOf(browser, '.dialog .rdp-password code'), /^Demo-Windows-Admin-2026!$/);
      await screenshot(browser, 'rdp-dialog');
      await (await (await browser.$('.dialog')).$('button=Done')).click();
      assert.match(await (await browser.$('.tab.active[data-tab]')).getProperty('textContent'), /win-1 · RDP/);
    } finally {
      await browser.deleteSession();
      await driver.stop();
    }
  });

  it('starts a profile the CLI saved with a node name, not an id', async () => {
    const home = freshHome('profile-by-name');
    const cli = path.join(path.dirname(APP), 'airlock');
    execFileSync(cli, ['profile', 'add', 'by-name', 'web-1', '--port', String(server.port)], {
      env: { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config') },
    });
    const driver = await startDriver(home);
    try {
      const browser = await driver.launch();
      try {
        await until(browser, 'the CLI\'s profile listed', async () => (await browser.$('[data-profile="by-name"]')).isExisting());
        await (await browser.$('button[aria-label="Start by-name"]')).click();
        const address = await tunnelAddress(browser);
        assert.match(await (await fetch(`http://${address}/`)).text(), new RegExp(PAGE));
      } finally {
        await browser.deleteSession();
      }
    } finally {
      await driver.stop();
    }
  });

  it('says so on the field when the local port is taken', async () => {
    const taken = net.createServer();
    await new Promise((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const driver = await startDriver(freshHome('taken'));
    const browser = await driver.launch();
    try {
      await nodeListShows(browser);
      await openTunnelForm(browser, server.port, String(taken.address().port));
      await (await browser.$('button=Start tunnel')).click();
      let error = '';
      await until(browser, 'the error on the local port field', async () => {
        const alert = await browser.$('.field.invalid .field-error');
        error = (await alert.isExisting()) ? await alert.getText() : '';
        return error.length > 0;
      });
      assert.match(error, /already in use/);
      await screenshot(browser, 'port-taken');
    } finally {
      await browser.deleteSession();
      await driver.stop();
      taken.close();
    }
  });
});

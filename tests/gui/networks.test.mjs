// The built app against "AWS" (the emulator binary over HTTPS, trusted through AWS_CA_BUNDLE
// as a private CA would be) with a least-privilege policy: no ec2:DescribeInstances and no
// ssm:ListTagsForResource. Every node is still listed, the list says once what is missing and
// which permission would add it, and "Check connection" shows the checks line by line.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { WEB, emulator, freshHome, screenshot, startDriver, until } from './harness.mjs';

const ONPREM = 'mi-0123456789abcdef0';
const KEY = 'AKIAEMULATORDEMO0001';
const SECRET = 'emulator/demo/secret/key/not/a/real/one/000';

const FLEET = `
[[credentials]]
access_key_id = "${KEY}"
secret_access_key = "${SECRET}"
user = "operator"
deny = ["ec2:DescribeInstances", "ssm:ListTagsForResource"]

[[nodes]]
id = "${WEB}"
name = "web-1"
ip = "10.0.1.10"
tags = { env = "prod" }

[[nodes]]
id = "${ONPREM}"
name = "onprem-build"
ip = "192.168.10.20"
tags = { env = "ci" }
`;

describe('Airlock with a least-privilege policy, over TLS', () => {
  it('lists every node, says what is missing, and checks the connection', async () => {
    const home = freshHome('least-privilege');
    const fleet = path.join(home, 'fleet.toml');
    writeFileSync(fleet, FLEET);
    const aws = await emulator(['--fleet', fleet]);
    const driver = await startDriver(home, { ...aws.env, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: KEY, AWS_SECRET_ACCESS_KEY: SECRET });
    const browser = await driver.launch();
    try {
      await until(browser, 'both nodes listed', async () => (await browser.$(`.node-row[data-node="${ONPREM}"]`)).isExisting() && (await browser.$(`.node-row[data-node="${WEB}"]`)).isExisting());
      const web = await (await browser.$(`.node-row[data-node="${WEB}"] .name`)).getProperty('textContent');
      assert.equal(web, 'ip-10-0-1-10.ec2.internal', 'the computer name stands in for the Name tag');
      // One WebDriver command at a time: WebKit's driver serves them in turn.
      const texts = [];
      for (const notice of await browser.$$('.list-notice')) texts.push(await notice.getProperty('textContent'));
      assert.equal(texts.length, 2, `each gap said once: ${texts.join(' | ')}`);
      assert.match(texts[0], /ec2:DescribeInstances/);
      assert.match(texts[1], /ssm:ListTagsForResource/);
      await screenshot(browser, 'least-privilege');

      await (await browser.$(`.node-row[data-node="${WEB}"]`)).click();
      await (await browser.$('button=Check connection')).click();
      await until(browser, 'the checks shown', async () => (await browser.$$('.doctor-check')).length > 5);
      const line = async (title) => {
        for (const check of await browser.$$('.doctor-check')) {
          if ((await (await check.$('.title')).getProperty('textContent')) === title) return { verdict: await check.getAttribute('data-verdict'), text: await check.getProperty('textContent') };
        }
        return null;
      };
      assert.equal((await line('SSM API'))?.verdict, 'ok');
      assert.match((await line('SSM API')).text, /TLS verified/);
      assert.equal((await line('Credentials'))?.verdict, 'ok');
      assert.match((await line('Credentials')).text, /user\/operator/);
      assert.equal((await line('ec2:DescribeInstances'))?.verdict, 'warning');
      assert.equal((await line(`Node ${WEB}: ping status`))?.verdict, 'ok', 'the selected node is checked too');
      await screenshot(browser, 'check-connection');
    } finally {
      await browser.deleteSession();
      await driver.stop();
      aws.stop();
    }
  });
});

// Writes src/about/licences.json: every crate the desktop app's binary is built from and every
// npm package its page bundles, each with its licence and the licence texts it ships, for the
// About view. `--check` fails when the file is not what this would write (scripts/suites runs
// it, as it checks the generated TypeScript bindings).
//
// The crates are those `cargo tree` resolves for the app alone, normal dependencies on this
// host (what a release build links; build scripts and proc-macros are not shipped, so they are
// left out); the npm packages are ui/package.json's dependencies and theirs.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const ui = path.resolve(import.meta.dirname, '..');
const root = path.resolve(ui, '..');
const output = path.join(ui, 'src', 'about', 'licences.json');
const LICENCE_FILE = /^(licen[cs]e|copying|notice|unlicense)([-._].*)?$/i;

/** The texts of a package's licence files, each as an index into `texts`. */
function licenceFiles(dir, texts, byHash) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && LICENCE_FILE.test(entry.name))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const text = readFileSync(path.join(dir, name), 'utf8').replace(/\r\n/g, '\n').trim();
      const hash = createHash('sha256').update(text).digest('hex');
      if (!byHash.has(hash)) {
        byHash.set(hash, texts.length);
        texts.push(text);
      }
      return byHash.get(hash);
    });
}

function crates(texts, byHash) {
  const host = execFileSync('rustc', ['-vV'], { encoding: 'utf8' }).match(/^host: (.+)$/m)[1];
  const cargo = (args) => execFileSync('cargo', args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  const tree = cargo([
    'tree',
    '--locked',
    '-p',
    'airlock-app',
    '-e',
    'normal',
    '--target',
    host,
    '--prefix',
    'none',
    '--format',
    '{p}',
  ]);
  const wanted = new Set();
  for (const line of tree.split('\n')) {
    const match = line.match(/^(\S+) v(\S+)/);
    if (match && !line.includes('(proc-macro)')) wanted.add(`${match[1]}@${match[2]}`);
  }
  const metadata = JSON.parse(
    cargo(['metadata', '--locked', '--format-version', '1', '--filter-platform', host]),
  );
  const ours = new Set(metadata.workspace_members);
  return metadata.packages
    .filter((p) => wanted.has(`${p.name}@${p.version}`) && !ours.has(p.id))
    .map((p) => ({
      name: p.name,
      version: p.version,
      kind: 'crate',
      licence: p.license ?? (p.license_file ? 'see its licence file' : 'not stated'),
      home: p.repository ?? p.homepage ?? `https://crates.io/crates/${p.name}`,
      texts: licenceFiles(path.dirname(p.manifest_path), texts, byHash),
    }));
}

function npmPackages(texts, byHash) {
  const seen = new Map();
  const visit = (name) => {
    if (seen.has(name)) return;
    const dir = path.join(ui, 'node_modules', name);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    const repository =
      typeof manifest.repository === 'string' ? manifest.repository : manifest.repository?.url;
    seen.set(name, {
      name,
      version: manifest.version,
      kind: 'npm',
      licence: typeof manifest.license === 'string' ? manifest.license : 'not stated',
      home: (repository ?? manifest.homepage ?? `https://www.npmjs.com/package/${name}`).replace(
        /^git\+/,
        '',
      ),
      texts: licenceFiles(dir, texts, byHash),
    });
    for (const dependency of Object.keys(manifest.dependencies ?? {})) visit(dependency);
  };
  const app = JSON.parse(readFileSync(path.join(ui, 'package.json'), 'utf8'));
  for (const name of Object.keys(app.dependencies ?? {})) visit(name);
  return [...seen.values()];
}

const texts = [];
const byHash = new Map();
const packages = [...crates(texts, byHash), ...npmPackages(texts, byHash)].sort((a, b) =>
  a.name === b.name ? a.version.localeCompare(b.version) : a.name.localeCompare(b.name),
);
const json = `${JSON.stringify({ packages, texts })}\n`;

if (process.argv.includes('--check')) {
  const current = existsSync(output) ? readFileSync(output, 'utf8') : '';
  if (current !== json) {
    console.error(
      `${path.relative(root, output)} is not current: run node ui/scripts/licences.mjs and commit it`,
    );
    process.exit(1);
  }
  console.log(`licences: ${packages.length} packages, current`);
} else {
  writeFileSync(output, json);
  console.log(
    `licences: ${packages.length} packages, ${texts.length} texts, written to ${path.relative(root, output)}`,
  );
}

// End-to-end test of the dashboard in real headless Chromium (Debian's
// chromium driven by playwright-core) against a running `mss serve` fed a
// known CSV. Run by scripts/test.sh:
//   MSS_BIN=target/debug/mss node --test frontend/e2e/
// Needs the dashboard built into frontend/dist (trunk build) first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// playwright-core is installed into .tools/ by scripts/setup.sh.
const { chromium } = createRequire(join(ROOT, '.tools', 'package.json'))('playwright-core');
const MSS = process.env.MSS_BIN ?? join(ROOT, 'target', 'debug', 'mss');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const GOOD_ROWS = 4000;
const KINDS = ['quantileflow', 'datadog', 'momentsketch', 'hdrhistogram'];
// Screenshots of the grouped view, linked from the README.
const SCREENSHOTS = join(ROOT, 'docs', 'screenshots');

let server;
let goodValues = [];
let browser;
let base;
const consoleErrors = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

const ROUTES = ['/a', '/b', '/c'];
const HOSTS = ['h1', 'h2'];
// Rows per route × host (the series the page groups and filters).
const perSeries = {};

// Deterministic log-normal latencies plus three bad rows, each row tagged
// with a route and a host (so the run has six series).
function writeCsv(path) {
  let state = 42n;
  const next = () => {
    state = (state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return (Number(state >> 11n) + 0.5) / 2 ** 53;
  };
  const lines = ['BlockId,Label,Type,Features,TimeInterval,Latency,tag.route,tag.host'];
  for (let i = 0; i < GOOD_ROWS; i++) {
    const z = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
    const route = ROUTES[i % 3];
    const host = HOSTS[Math.floor(i / 7) % 2];
    // Route /c is three times slower: groups differ.
    const latency = Math.round(Math.exp(8 + 1.1 * z) * (route === '/c' ? 3 : 1) * 100) / 100;
    lines.push(`blk_${i},Normal,1,"[E5,E22]","[0.0, 1.0]",${latency},${route},${host}`);
    goodValues.push(latency);
    perSeries[`${route} ${host}`] = (perSeries[`${route} ${host}`] ?? 0) + 1;
    if (i === 1000) lines.push('blk_bad,Normal,1,"[E5]","[0.0]",slow,/a,h1');
    if (i === 2000) lines.push('blk_bad,Normal,1,"[E5]","[0.0]",-3,/a,h1');
    if (i === 3000) lines.push('blk_bad,Normal,1');
  }
  writeFileSync(path, lines.join('\n') + '\n');
}

async function getJson(path) {
  const res = await fetch(base + path);
  assert.equal(res.status, 200, `${path} answered ${res.status}`);
  return res.json();
}

async function waitFor(what, check, timeoutMs = 60_000) {
  const start = Date.now();
  let last;
  while (Date.now() - start < timeoutMs) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

async function newPage(path) {
  const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${path}: ${m.text()}`);
  });
  page.on('pageerror', (e) => consoleErrors.push(`${path}: ${e.message}`));
  await page.goto(base + path);
  return page;
}

// Readouts as shown: { '0.5': '7407.49', ... }
async function readouts(page) {
  return page.$$eval('[data-testid^="readout-"]', (els) =>
    Object.fromEntries(els.map((e) => [e.dataset.testid.slice('readout-'.length), e.querySelector('.value').textContent])),
  );
}

function expectQuantiles(shown, summary, kind) {
  for (const q of ['0.5', '0.95', '0.99']) {
    const want = summary.quantiles[q];
    const got = Number(shown[q]);
    if (kind === 'momentsketch') {
      // The solver runs on sums merged in another order: equal to ~1e-6.
      assert.ok(Math.abs(got - want) <= 1e-4 * want + 0.01, `${kind} ${q}: page ${got}, api ${want}`);
    } else {
      assert.equal(shown[q], want.toFixed(2), `${kind} ${q}: page ${shown[q]}, api ${want}`);
    }
  }
}

before(async () => {
  assert.ok(existsSync(MSS), `no mss binary at ${MSS} (cargo build -p backend first)`);
  assert.ok(existsSync(join(ROOT, 'frontend', 'dist', 'index.html')), 'build the dashboard first (trunk build)');
  const dir = mkdtempSync(join(tmpdir(), 'mss-e2e-'));
  const csv = join(dir, 'events.csv');
  writeCsv(csv);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(
    MSS,
    [
      'serve', '--csv', csv, '--exact', '--partitions', '2', '--listen', `127.0.0.1:${port}`, '--static-dir', join(ROOT, 'frontend', 'dist'),
      '--slo', 'name=fast;metric=latency;le=10000;objective=99',
      '--alert', 'name=slow-p99;metric=latency;q=0.99;above=1000;over=1h',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  server.stderr.on('data', (d) => (log = (log + d).slice(-4000)));
  server.on('exit', (code) => {
    if (code !== null && code !== 0) console.error(`mss exited with ${code}:\n${log}`);
  });
  // Every good row counted, and its window closed (the page only sees closed windows).
  await waitFor('all rows in closed windows', async () => {
    const s = await getJson('/api/summary');
    return s.messages_processed === GOOD_ROWS && s.partitions.every((p) => p.committed === p.offset + 1) && s;
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
});

test('the page shows the quantiles of /api/summary, for every sketch it switches to', async () => {
  const page = await newPage('/');
  await waitFor('every value in the page', async () => (await page.textContent('[data-testid="count"]')) === String(GOOD_ROWS));
  assert.equal(await page.textContent('[data-testid="status"]'), 'live');
  expectQuantiles(await readouts(page), await getJson('/api/summary'), 'quantileflow');
  // Stats panel: counters of the server, rejected rows by reason.
  assert.equal(await page.textContent('[data-testid="messages-processed"]'), '4,000');
  const rejected = await page.textContent('[data-testid="rejected"]');
  assert.match(rejected, /^3 csv · 0 payload/);
  let previous = await readouts(page);
  for (const kind of ['hdrhistogram', 'datadog', 'momentsketch', 'quantileflow']) {
    await page.click(`[data-testid="sketch-${kind}"]`);
    const summary = await getJson(`/api/summary?sketch=${kind}`);
    await waitFor(`${kind} numbers`, async () => {
      const shown = await readouts(page);
      return shown['0.99'] !== previous['0.99'] && shown;
    });
    const shown = await readouts(page);
    expectQuantiles(shown, summary, kind);
    assert.ok(page.url().includes(`sketch=${kind}`), page.url());
    previous = shown;
  }
  // The compare table has all four kinds on the same range, and the exact
  // reference (--exact) equal to the CSV's own quantiles.
  for (const kind of KINDS) {
    const row = await page.textContent(`[data-testid="compare-${kind}"]`);
    assert.ok(row.includes(String(GOOD_ROWS)), `${kind} row: ${row}`);
  }
  const sorted = [...goodValues].sort((a, b) => a - b);
  const exactCells = await page.$$eval('[data-testid="compare-exact"] td', (tds) => tds.map((t) => t.textContent));
  assert.equal(exactCells[1], String(GOOD_ROWS));
  [0.5, 0.95, 0.99].forEach((q, i) => {
    const want = sorted[Math.floor(q * (sorted.length - 1))];
    assert.equal(exactCells[2 + i], want.toFixed(2), `exact ${q}`);
  });
  // quantileflow is within its α = 1% of the exact values.
  const qf = await page.$$eval('[data-testid="compare-quantileflow"] td .diff', (els) => els.map((e) => e.textContent));
  assert.equal(qf.length, 3);
  for (const d of qf) assert.ok(Math.abs(parseFloat(d)) <= 1.0, `quantileflow off by ${d}`);
  await page.close();
});

test('changing the range and quantiles updates the URL, and the URL restores them', async () => {
  const page = await newPage('/?sketch=datadog&theme=light');
  await waitFor('values', async () => (await page.textContent('[data-testid="count"]')) === String(GOOD_ROWS));
  assert.equal(await page.evaluate(() => document.body.className), 'theme-light');
  await page.click('[data-testid="range-5m"]');
  await waitFor('from=now-5m in the URL', async () => page.url().includes('from=now-5m'));
  await page.fill('[data-testid="custom-q"]', '99.9');
  await page.press('[data-testid="custom-q"]', 'Enter');
  await waitFor('P99.9 in the URL', async () => page.url().includes('q=0.5,0.95,0.99,0.999'));
  await page.fill('[data-testid="from"]', 'now-2h');
  await page.click('[data-testid="apply-range"]');
  await waitFor('from=now-2h in the URL', async () => page.url().includes('from=now-2h'));
  const url = page.url();
  assert.ok(url.includes('sketch=datadog') && url.includes('theme=light'), url);
  // A fresh page on that URL shows the same view.
  const again = await newPage(url.slice(base.length));
  await waitFor('values', async () => (await again.textContent('[data-testid="count"]')) === String(GOOD_ROWS));
  assert.ok(await again.isVisible('[data-testid="readout-0.999"]'));
  assert.equal(await again.inputValue('[data-testid="from"]'), 'now-2h');
  // Unknown parameters are reported, not ignored.
  const bad = await newPage('/?zoom=3&q=abc');
  await waitFor('problems shown', async () => bad.isVisible('[data-testid="problems"]'));
  assert.match(await bad.textContent('[data-testid="problems"]'), /zoom: unknown parameter/);
  for (const p of [page, again, bad]) await p.close();
});

test('the embed route renders a non-blank canvas, no chrome', async () => {
  const page = await newPage('/embed?panel=percentiles&sketch=hdrhistogram&q=0.5,0.99&from=now-15m&refresh=1s&theme=dark');
  await waitFor('points drawn', async () => Number(await page.getAttribute('canvas', 'data-points')) > 0);
  const inked = await page.$eval('canvas', (c) => {
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    for (let i = 0; i < data.length; i += 16) colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return { colours: colours.size, width: c.width, height: c.height };
  });
  assert.ok(inked.colours > 5, `canvas looks blank: ${JSON.stringify(inked)}`);
  assert.deepEqual([inked.width, inked.height], [1300, 1000], 'the canvas fills the frame');
  assert.equal(await page.$$eval('.sketches, header, .controls', (els) => els.length), 0);
  const stats = await newPage('/embed?panel=stats');
  await waitFor('stats panel', async () => (await stats.textContent('[data-testid="messages-processed"]')) === '4,000');
  for (const p of [page, stats]) await p.close();
});

test('browser merge benchmark: 3,600 windows, 3 quantiles (printed, not asserted)', async () => {
  const page = await newPage('/bench');
  await page.waitForSelector('[data-testid="bench-result"]', { timeout: 120_000 });
  const result = JSON.parse(await page.textContent('[data-testid="bench-result"]'));
  console.log(`browser merge benchmark (${await browser.version()}): ${JSON.stringify(result)}`);
  assert.equal(result.results.length, 4);
  assert.ok(result.results.every((r) => r.p99 > 0), JSON.stringify(result));
  await page.close();
});

test('the page shows what the server waits for: a consumer with no broker', async () => {
  const port = await freePort();
  const waiting = spawn(
    MSS,
    ['consume', '--brokers', '127.0.0.1:1', '--listen', `127.0.0.1:${port}`, '--static-dir', join(ROOT, 'frontend', 'dist')],
    { stdio: 'ignore' },
  );
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1000 } });
    page.on('pageerror', (e) => consoleErrors.push(`no-broker page: ${e.message}`));
    await waitFor('the page loads', async () => {
      await page.goto(`http://127.0.0.1:${port}/`);
      return true;
    });
    const text = await waitFor('the server problems shown', async () => {
      if (!(await page.isVisible('[data-testid="server-problems"]'))) return false;
      return page.textContent('[data-testid="server-problems"]');
    });
    assert.match(text, /127\.0\.0\.1:1/);
    await page.close();
  } finally {
    waiting.kill();
  }
});


// The group rows as shown, with the range the page merged them over.
async function groupTable(page) {
  return page.$eval('[data-testid="groups"]', (t) => ({
    from: Number(t.dataset.from),
    to: Number(t.dataset.to),
    rows: [...t.querySelectorAll('[data-testid="group-row"]')].map((r) => ({
      tags: r.dataset.tags,
      count: Number(r.querySelector('[data-testid="group-count"]').textContent),
      qs: [...r.querySelectorAll('[data-testid="group-q"]')].map((c) => c.textContent),
    })),
  }));
}

test('grouped numbers equal /api/quantiles?by=, for two group-by shapes', async () => {
  for (const [by, kind] of [['route', 'hdrhistogram'], ['route,host', 'datadog']]) {
    const page = await newPage(`/?sketch=${kind}&by=${by}`);
    const table = await waitFor(`the groups by ${by}`, async () => {
      const t = await groupTable(page);
      return t.rows.reduce((n, r) => n + r.count, 0) === GOOD_ROWS && t;
    });
    const api = await getJson(`/api/quantiles?sketch=${kind}&by=${by}&from=${table.from}&to=${table.to}&q=0.5,0.95,0.99`);
    assert.equal(table.rows.length, api.groups.length, JSON.stringify(api));
    api.groups.forEach((g, i) => {
      const row = table.rows[i];
      const tags = Object.entries(g.tags).map(([k, v]) => `${k}=${v}`).sort().join(',');
      assert.equal(row.tags.split(',').sort().join(','), tags, `group ${i} (ordered by count like the API)`);
      assert.equal(row.count, g.count, tags);
      ['0.5', '0.95', '0.99'].forEach((q, j) => assert.equal(row.qs[j], g.quantiles[q].toFixed(2), `${tags} ${q}`));
    });
    if (by === 'route,host') {
      for (const row of table.rows) {
        const [route, host] = [row.tags.match(/route=([^,]+)/)[1], row.tags.match(/host=([^,]+)/)[1]];
        assert.equal(row.count, perSeries[`${route} ${host}`], row.tags);
      }
    }
    // One line per group on the chart.
    assert.equal(await page.getAttribute('[data-testid="percentile-canvas"]', 'data-points') > '0', true);
    await page.close();
  }
});

test('filters and group-by are set in the page, written to the URL and restored from it', async () => {
  const page = await newPage('/?sketch=quantileflow');
  await waitFor('values', async () => (await page.textContent('[data-testid="count"]')) === String(GOOD_ROWS));
  // The metric picker lists the metric with its unit and series.
  assert.match(await page.textContent('[data-testid="metric-picker"]'), /latency \(ms · 6 series\)/);
  await waitFor('tag keys to group by', async () => (await page.$$('[data-testid="group-by"] option[value="route"]')).length === 1);
  await page.selectOption('[data-testid="group-by"]', 'route');
  await waitFor('by=route in the URL', async () => page.url().includes('by=route'));
  const grouped = await waitFor('three route groups', async () => {
    const t = await groupTable(page);
    return t.rows.length === 3 && t;
  });
  // Clicking a group filters to it.
  const slow = grouped.rows.find((r) => r.tags === 'route=/c');
  await page.click('[data-testid="group-row"][data-tags="route=/c"]');
  await waitFor('filter=route:/c in the URL', async () => decodeURIComponent(page.url()).includes('filter=route:/c'));
  await waitFor('only /c counted', async () => (await page.textContent('[data-testid="count"]')) === String(slow.count));
  // A typed term narrows it further; its chip removes it again.
  await page.fill('[data-testid="filter-input"]', '!host:h2');
  await page.press('[data-testid="filter-input"]', 'Enter');
  const want = perSeries['/c h1'];
  await waitFor('only /c on h1', async () => (await page.textContent('[data-testid="count"]')) === String(want));
  const url = page.url();
  assert.ok(decodeURIComponent(url).includes('filter=route:/c,!host:h2'), url);
  // The same URL in a new page: same chips, same grouping, same numbers.
  const again = await newPage(url.slice(base.length));
  await waitFor('restored count', async () => (await again.textContent('[data-testid="count"]')) === String(want));
  const chips = await again.$$eval('[data-testid="filter-chip"]', (els) => els.map((e) => e.dataset.term));
  assert.deepEqual(chips, ['route:/c', '!host:h2']);
  assert.equal(await again.inputValue('[data-testid="group-by"]'), 'route');
  const api = await getJson('/api/quantiles?filter=route:/c,!host:h2');
  assert.equal(api.count, want);
  // The embed code carries the selection.
  const embed = await again.inputValue('[data-testid="embed-code"]');
  assert.ok(decodeURIComponent(embed).includes('filter=route:/c,!host:h2') && embed.includes('by=route'), embed);
  await again.click('[data-testid="filter-remove"] >> nth=1');
  await waitFor('/c on both hosts', async () => (await again.textContent('[data-testid="count"]')) === String(slow.count));
  // A bad term is refused with the reason, and the filter stays.
  await again.fill('[data-testid="filter-input"]', ':nokey');
  await again.press('[data-testid="filter-input"]', 'Enter');
  assert.ok(await again.isVisible('[data-testid="filter-error"]'));
  for (const p of [page, again]) await p.close();
});

test('an embed of one filtered series receives only that series', async () => {
  const filter = 'route:/b,host:h1';
  const page = await newPage(`/embed?panel=stats&filter=${encodeURIComponent(filter)}`);
  const want = perSeries['/b h1'];
  await waitFor('the series counted', async () => (await page.textContent('[data-testid="data-points"]')) === String(want));
  // The series the server defined on this connection: just the one.
  const series = await page.getAttribute('[data-testid="embed"]', 'data-series');
  assert.equal(series, 'latency{host=h1,label=Normal,route=/b}');
  assert.equal(await page.getAttribute('[data-testid="embed"]', 'data-foreign-windows'), '0');
  await page.close();
});

test('axes read as clock times and units; le= draws a threshold and travels with embeds', async () => {
  const page = await newPage('/?sketch=hdrhistogram&le=5000');
  await waitFor('values', async () => (await page.textContent('[data-testid="count"]')) === String(GOOD_ROWS));
  const canvas = '[data-testid="percentile-canvas"]';
  const x = await waitFor('time labels', async () => (await page.getAttribute(canvas, 'data-x-labels')) || false);
  for (const label of x.split('|')) assert.match(label, /^\d\d:\d\d(:\d\d)?$/, `time label ${label} in ${x}`);
  const y = (await page.getAttribute(canvas, 'data-y-labels')).split('|');
  assert.ok(y.length >= 3, y.join('|'));
  for (const label of y) assert.match(label, /^[\d,.]+ (ms|s)$/, `value label ${label}`);
  assert.ok(y.some((l) => l.endsWith(' s')), `values over 1,000 ms read in seconds: ${y}`);
  // Hovering the chart reads the time and each line's value there.
  const box = await page.locator(canvas).boundingBox();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2);
  const hover = await waitFor('the hover readout', async () => {
    const t = await page.textContent('[data-testid="hover-readout"]');
    return /^\d\d:\d\d:\d\d · P50 [\d,.]+ (ms|s) · P95 /.test(t) && t;
  });
  assert.match(hover, /· P99 [\d,.]+ (ms|s)$/);
  assert.ok(page.url().includes('le=5000'), page.url());
  const svgUrl = await page.textContent('[data-testid="svg-url"]');
  assert.ok(svgUrl.includes('le=5000'), svgUrl);
  const svg = await (await fetch(svgUrl.replace(/^https?:\/\/[^/]+/, base))).text();
  assert.ok(svg.includes('≤ 5 s'), 'the threshold line in the static chart');
  await page.close();
});

test('the main job (synthetic rows, no --exact): several series, a grouped view, no console errors, a clean Ctrl-C', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // What scripts/run.sh starts, at a lower rate.
  const run = spawn(
    MSS,
    ['serve', '--synthetic', '--loop', '--rate', '1000', '--listen', `127.0.0.1:${port}`, '--static-dir', join(ROOT, 'frontend', 'dist')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  run.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => run.on('exit', (code, signal) => resolve({ code, signal })));
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1300, height: 1400 } });
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(e.message));
    await waitFor('the page loads', async () => {
      await page.goto(`${url}/`);
      return true;
    });
    // Values arrive and keep arriving: several refreshes of the live page.
    let seen = 0;
    for (let i = 0; i < 3; i++) {
      seen = await waitFor('more values', async () => {
        const n = Number((await page.textContent('[data-testid="count"]')).replace(/,/g, ''));
        return n > seen && n;
      });
    }
    const metrics = await (await fetch(`${url}/api/metrics`)).json();
    assert.ok(metrics[0].series >= 6, `several series: ${JSON.stringify(metrics)}`);
    assert.deepEqual(Object.keys(metrics[0].tags).sort(), ['datanode', 'op']);
    mkdirSync(SCREENSHOTS, { recursive: true });
    for (const theme of ['light', 'dark']) {
      await page.goto(`${url}/?by=op&from=now-5m&theme=${theme}`);
      await waitFor('three op groups', async () => (await page.$$('[data-testid="group-row"]')).length === 3);
      await waitFor('lines drawn', async () => Number(await page.getAttribute('[data-testid="percentile-canvas"]', 'data-points')) > 12);
      await page.screenshot({ path: join(SCREENSHOTS, `grouped-${theme}.png`), fullPage: true });
    }
    await page.close();
  } finally {
    run.kill('SIGINT');
  }
  const { code } = await exited;
  assert.deepEqual(errors, [], 'console errors on the default page');
  assert.equal(code, 0, log.slice(-2000));
  assert.ok(!/ERROR/.test(log), `Ctrl-C logged errors:\n${log.slice(-2000)}`);
});

test('an OpenTelemetry SDK pointed at the main job shows up as series with its attributes as tags', async () => {
  const [port, otlp] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${port}`;
  // What scripts/run.sh starts: replayed rows and the OTLP receiver.
  const run = spawn(
    MSS,
    ['serve', '--synthetic', '--loop', '--rate', '200', '--listen', `127.0.0.1:${port}`,
      '--otlp-listen', `127.0.0.1:${otlp}`, '--static-dir', join(ROOT, 'frontend', 'dist')],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  run.stderr.on('data', (d) => (log += d));
  const exited = new Promise((resolve) => run.on('exit', (code) => resolve(code)));
  try {
    await waitFor('the receiver listens', async () => (await fetch(`http://127.0.0.1:${otlp}/healthz`)).ok);
    const sdk = spawn('python3', [join(ROOT, 'backend', 'tests', 'clients', 'otel_sdk_export.py'),
      `http://127.0.0.1:${otlp}/v1/metrics`, 'delta', 'e2e', '2', '300'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    sdk.stdout.on('data', (d) => (out += d));
    sdk.stderr.on('data', (d) => (err += d));
    const code = await new Promise((resolve) => sdk.on('exit', resolve));
    assert.equal(code, 0, `the SDK exported: ${err.slice(-2000)}`);
    const sent = JSON.parse(out);
    assert.equal(sent.values.length, 600);
    const metrics = await waitFor('the SDK metrics are listed', async () => {
      const list = await (await fetch(`${url}/api/metrics`)).json();
      return list.some((m) => m.metric === 'e2e.explicit') && list;
    });
    const explicit = metrics.find((m) => m.metric === 'e2e.explicit');
    assert.ok('route' in explicit.tags && 'service.name' in explicit.tags, JSON.stringify(explicit));
    const page = await browser.newPage({ viewport: { width: 1300, height: 1400 } });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(`${url}/?metric=e2e.exponential&by=route&from=now-15m`);
    await waitFor('two route groups', async () => (await page.$$('[data-testid="group-row"]')).length === 2);
    await waitFor('every exported value', async () => (await page.textContent('[data-testid="count"]')) === '600');
    await page.close();
  } finally {
    run.kill('SIGINT');
  }
  assert.equal(await exited, 0, log.slice(-2000));
});

test('SLOs and alerts: the SLO panel, a firing alert on top and its span on the chart, share ≤ X, a shifted overlay', async () => {
  const page = await newPage('/?le=10000&shift=5m');
  await waitFor('values', async () => (await page.textContent('[data-testid="count"]')) === String(GOOD_ROWS));
  const banner = await waitFor('the firing alert', async () => (await page.isVisible('[data-testid="alerts-firing"]')) && page.textContent('[data-testid="alerts-firing"]'));
  assert.match(banner, /FIRING slow-p99/);
  const canvas = '[data-testid="percentile-canvas"]';
  await waitFor('the alert span on the chart', async () => Number(await page.getAttribute(canvas, 'data-spans')) >= 1);
  const alerts = await getJson('/api/alerts');
  assert.equal(alerts[0].state, 'firing');
  // The SLO panel shows the server's numbers.
  const slos = await getJson('/api/slos');
  const good = slos[0].windows.find((w) => w.window === '5m').good_ratio;
  const shown = await waitFor('the SLO row', async () => (await page.isVisible('[data-testid="slo-row"]')) && page.textContent('[data-testid="slo-good-5m"]'));
  assert.equal(shown, `${(good * 100).toFixed(3)}%`);
  // The exact share of the CSV's values ≤ 10 s lies in the server's bound.
  const exact = goodValues.filter((v) => v <= 10000).length / goodValues.length;
  const fraction = await getJson('/api/fraction?le=10000');
  assert.ok(fraction.bound[0] <= exact && exact <= fraction.bound[1], `${exact} in ${fraction.bound}`);
  // The page's share ≤ 10 s is the same merged-sketch rank.
  const share = Number(await page.getAttribute('[data-testid="share-le"]', 'data-value'));
  assert.ok(Math.abs(share - fraction.fraction) < 1e-9, `page ${share}, api ${fraction.fraction}`);
  // shift=5m: each quantile also drawn 5 minutes earlier, dashed.
  const lines = (await page.getAttribute(canvas, 'data-lines')).split('|');
  assert.deepEqual(lines, ['P50', 'P95', 'P99', 'P50 (5m ago)', 'P95 (5m ago)', 'P99 (5m ago)']);
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, 'slo-alert.png') });
  await page.close();
});

test('no console errors on any page', () => {
  assert.deepEqual(consoleErrors, []);
});

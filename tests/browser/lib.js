'use strict';
// Shared helpers for the browser tests: launching Debian's chromium through
// playwright-core, reading the shipped definitions' page counts from
// `joinedup check --json`, running axe, and driving a question page the way
// a respondent would.
//
// Environment (scripts/browser-tests.sh sets all of these):
//   JOINEDUP_URL          the running server, e.g. http://127.0.0.1:18080
//   JOINEDUP_BIN          the joinedup binary (for `check --json`)
//   JOINEDUP_DEFINITIONS  the definitions folder the server was started with
//   CHROMIUM_PATH         defaults to /usr/bin/chromium

const path = require('path');
const { execFileSync } = require('child_process');
const { chromium } = require('playwright-core');

const BASE_URL = (process.env.JOINEDUP_URL || '').replace(/\/$/, '');
const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.resolve(REPO, process.env.JOINEDUP_BIN || 'target/debug/joinedup');
const DEFINITIONS = path.resolve(REPO, process.env.JOINEDUP_DEFINITIONS || 'survey-definitions');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// WCAG 2.0, 2.1 and 2.2 at levels A and AA.
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
const AXE_PATH = require.resolve('axe-core/axe.min.js');

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// The order of the answers on each survey's first ("who is answering") page.
const VOICES = ['patient', 'carer_self', 'carer_on_behalf'];

/** A survey's voices, in the usual order (patient, carer_self, carer_on_behalf, then any other). */
function voicesOf(survey) {
  const rank = (v) => (VOICES.includes(v) ? VOICES.indexOf(v) : VOICES.length);
  return Object.keys(survey.pages_per_voice).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

function requireServer() {
  if (!BASE_URL) {
    throw new Error('JOINEDUP_URL is not set: run these tests through scripts/browser-tests.sh');
  }
}

/**
 * Headless chromium. playwright-core's launch() gives every browser a fresh,
 * throw-away profile (its own --user-data-dir under the temp folder, deleted
 * on close); each test then opens isolated contexts with newContext().
 */
async function launch() {
  requireServer();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/**
 * A browser context for axe runs: our CSP (script-src 'none') would block
 * axe, so the context bypasses CSP, and axe is loaded into every document
 * it opens (once per context, much faster than injecting it per page).
 */
async function axeContext(browser, options = {}) {
  const context = await browser.newContext({ ...options, bypassCSP: true });
  await context.addInitScript({ path: AXE_PATH });
  return context;
}

/** One JSON object per survey from `joinedup check --json`. */
function surveyDefinitions() {
  const out = execFileSync(BIN, ['check', '--json', DEFINITIONS], { encoding: 'utf8' });
  const surveys = out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
  if (surveys.length === 0) throw new Error(`joinedup check --json ${DEFINITIONS} listed no surveys`);
  for (const s of surveys) {
    if (!s.id || !s.pages_per_voice || !Array.isArray(s.languages)) {
      throw new Error(`unexpected output from joinedup check --json: ${JSON.stringify(s)}`);
    }
  }
  return surveys;
}

function url(p) {
  return BASE_URL + p;
}

function pathOf(page) {
  const u = new URL(page.url());
  return u.pathname + u.search;
}

function fail(message) {
  const e = new Error(message);
  e.testFailure = true;
  throw e;
}

function assert(cond, message) {
  if (!cond) fail(message);
}

// ---- axe --------------------------------------------------------------------

/**
 * Runs axe on the page at WCAG 2.2 A/AA. Returns a summary; throws when axe
 * did not really run. Violations are returned, not thrown, so a run can
 * report them all.
 */
async function runAxe(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE_PATH });
  const results = await page.evaluate(async (tags) => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    const ruleIds = (list) => list.map((x) => ({ id: x.id, tags: x.tags }));
    return {
      engine: r.testEngine,
      runOnly: r.toolOptions && r.toolOptions.runOnly,
      url: r.url,
      passes: ruleIds(r.passes),
      incomplete: ruleIds(r.incomplete),
      inapplicable: ruleIds(r.inapplicable),
      violations: r.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        helpUrl: v.helpUrl,
        tags: v.tags,
        nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary, html: n.html })),
      })),
    };
  }, AXE_TAGS);

  // Proof that axe ran, and ran the rules we asked for.
  const applied = results.passes.length + results.violations.length + results.incomplete.length;
  assert(results.engine && results.engine.name === 'axe-core', `axe did not report its engine on ${results.url}`);
  assert(applied > 0, `axe applied no rules on ${results.url}`);
  const asked = results.runOnly && [].concat(results.runOnly.values || []);
  assert(
    asked && AXE_TAGS.every((t) => asked.includes(t)),
    `axe did not run with tags ${AXE_TAGS.join(',')} on ${results.url}: ${JSON.stringify(results.runOnly)}`,
  );
  const all = [...results.passes, ...results.incomplete, ...results.inapplicable, ...results.violations];
  for (const rule of all) {
    assert(
      rule.tags.some((t) => AXE_TAGS.includes(t)),
      `axe ran rule ${rule.id} outside the requested tags on ${results.url}`,
    );
  }
  return {
    url: results.url,
    engine: `${results.engine.name} ${results.engine.version}`,
    applied,
    evaluated: all.length,
    ruleIds: all.map((r) => r.id),
    appliedIds: [...results.passes, ...results.incomplete, ...results.violations].map((r) => r.id),
    incomplete: results.incomplete.map((r) => r.id),
    violations: results.violations,
  };
}

/**
 * Text contrast of links and buttons in the states axe never sees: hovered,
 * focused, focused and pressed, and visited. The states are forced with the
 * DevTools protocol; browsers hide :visited colours from scripts, so for
 * that state the colours the protocol reports are copied inline first.
 * Returns the color-contrast violations per state.
 */
async function stateContrast(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE_PATH });
  const cdp = await page.context().newCDPSession(page);
  const found = [];
  try {
    await cdp.send('DOM.enable');
    await cdp.send('CSS.enable');
    const { root } = await cdp.send('DOM.getDocument', { depth: -1 });
    const { nodeIds } = await cdp.send('DOM.querySelectorAll', { nodeId: root.nodeId, selector: 'a[href], button' });
    const force = (classes) =>
      Promise.all(nodeIds.map((nodeId) => cdp.send('CSS.forcePseudoState', { nodeId, forcedPseudoClasses: classes })));
    const contrast = () =>
      page.evaluate(async () => {
        // eslint-disable-next-line no-undef
        const r = await axe.run(document, { runOnly: { type: 'rule', values: ['color-contrast'] } });
        return r.violations.flatMap((v) =>
          v.nodes.map((n) => ({ target: n.target, message: (n.any[0] || {}).message || n.failureSummary, html: n.html })),
        );
      });
    for (const state of [['hover'], ['focus'], ['focus', 'active'], ['visited']]) {
      await force(state);
      const marked = [];
      if (state[0] === 'visited') {
        for (const nodeId of nodeIds) {
          const { computedStyle } = await cdp.send('CSS.getComputedStyleForNode', { nodeId });
          const get = (name) => (computedStyle.find((p) => p.name === name) || {}).value;
          const { object } = await cdp.send('DOM.resolveNode', { nodeId });
          await cdp.send('Runtime.callFunctionOn', {
            objectId: object.objectId,
            functionDeclaration: `function (color, background) {
              this.dataset.stateContrast = this.getAttribute('style') || '';
              this.style.setProperty('color', color, 'important');
              this.style.setProperty('background-color', background, 'important');
            }`,
            arguments: [{ value: get('color') }, { value: get('background-color') }],
          });
          marked.push(object.objectId);
        }
      }
      for (const v of await contrast()) found.push({ state: state.join('+'), ...v });
      for (const objectId of marked) {
        await cdp.send('Runtime.callFunctionOn', {
          objectId,
          functionDeclaration: `function () {
            const old = this.dataset.stateContrast;
            if (old) this.setAttribute('style', old); else this.removeAttribute('style');
            delete this.dataset.stateContrast;
          }`,
        });
      }
      await force([]);
    }
  } finally {
    await cdp.detach();
  }
  return found;
}

/**
 * WCAG 1.4.10 reflow: at 320 CSS pixels wide (1280 at 400% zoom) nothing
 * may need scrolling sideways. Returns what sticks out, if anything.
 */
async function reflow(page) {
  const before = page.viewportSize();
  await page.setViewportSize({ width: 320, height: 640 });
  try {
    return await page.evaluate(() => {
      const width = document.documentElement.clientWidth;
      if (document.documentElement.scrollWidth <= width) return [];
      return [...document.querySelectorAll('body *')]
        .filter((e) => {
          const r = e.getBoundingClientRect();
          return r.width > 0 && r.right > width + 1 && ![...e.children].some((c) => c.getBoundingClientRect().right > width + 1);
        })
        .slice(0, 5)
        .map((e) => ({
          target: e.tagName.toLowerCase() + (e.id ? `#${e.id}` : '') + (typeof e.className === 'string' && e.className ? `.${e.className.trim().split(/\s+/).join('.')}` : ''),
          text: (e.textContent || '').trim().slice(0, 80),
          right: Math.round(e.getBoundingClientRect().right),
          width,
        }));
    });
  } finally {
    await page.setViewportSize(before || { width: 1280, height: 720 });
  }
}

function formatViolations(run, label) {
  const lines = [];
  for (const v of run.violations) {
    lines.push(`  VIOLATION ${v.id} (${v.impact}) on ${run.url} [${label}]: ${v.help}`);
    for (const n of v.nodes) {
      lines.push(`    target ${JSON.stringify(n.target)}: ${n.html.slice(0, 200)}`);
      if (n.summary) lines.push(`      ${n.summary.replace(/\n/g, '\n      ')}`);
    }
  }
  return lines.join('\n');
}

// ---- reading a question page ---------------------------------------------------

/**
 * What kind of question the current page asks, from its form: the fields a
 * respondent can fill in, in page order.
 */
async function describeQuestion(page) {
  return page.evaluate(() => {
    const form = document.querySelector('main form');
    if (!form) return null;
    const fieldsets = [...form.querySelectorAll('fieldset')];
    const heading = (document.querySelector('main h1') || {}).textContent?.trim() || '';
    const hintText = [...form.querySelectorAll('.nhsuk-hint')].map((h) => h.textContent).join(' ');
    if (form.querySelector('.nhsuk-date-input')) {
      const d = form.querySelector('.nhsuk-date-input');
      return { kind: 'date', heading, id: d.id, inputs: [...d.querySelectorAll('input')].map((i) => i.id) };
    }
    if (form.querySelector('input[type=checkbox]')) {
      const box = form.querySelector('.nhsuk-checkboxes');
      const children = [...box.children];
      const dividerAt = children.findIndex((c) => c.matches('.nhsuk-checkboxes__divider'));
      const options = children
        .map((c, i) => ({ c, i }))
        .filter(({ c }) => c.matches('.nhsuk-checkboxes__item'))
        .map(({ c, i }) => {
          const input = c.querySelector('input');
          return { id: input.id, name: input.name, value: input.value, exclusive: dividerAt >= 0 && i > dividerAt };
        });
      return { kind: 'checkboxes', heading, name: options[0].name, options };
    }
    if (form.querySelector('input[type=radio]')) {
      const groups = fieldsets.map((fs) => {
        const box = fs.querySelector('.nhsuk-radios');
        const children = [...box.children];
        const dividerAt = children.findIndex((c) => c.matches('.nhsuk-radios__divider'));
        const options = children
          .map((c, i) => ({ c, i }))
          .filter(({ c }) => c.matches('.nhsuk-radios__item'))
          .map(({ c, i }) => {
            const input = c.querySelector('input');
            const label = c.querySelector('label').textContent.trim();
            return { id: input.id, name: input.name, value: input.value, label, exclusive: dividerAt >= 0 && i > dividerAt };
          });
        return { name: options[0].name, options };
      });
      return { kind: groups.length > 1 ? 'likert' : 'radios', heading, groups, name: groups[0].name, options: groups[0].options };
    }
    const select = form.querySelector('select');
    if (select) {
      return { kind: 'select', heading, id: select.id, values: [...select.options].map((o) => o.value).filter((v) => v) };
    }
    const textarea = form.querySelector('textarea');
    const text = form.querySelector('input.nhsuk-input:not([type=hidden])');
    const field = textarea || text;
    if (field) {
      const kind = textarea ? 'textarea' : field.closest('.nhsuk-input-wrapper') ? 'number' : 'text';
      // The "up to N characters" hint gives the limit: the largest number in it.
      const numbers = (hintText.match(/\d+/g) || []).map(Number);
      return { kind, heading, id: field.id, maxLength: numbers.length ? Math.max(...numbers) : null };
    }
    return { kind: 'unknown', heading };
  });
}

/** The error summary, if the page shows one. */
async function errorSummary(page) {
  return page.evaluate(() => {
    const s = document.querySelector('.nhsuk-error-summary');
    if (!s) return null;
    return { links: [...s.querySelectorAll('a')].map((a) => ({ href: a.getAttribute('href'), text: a.textContent.trim() })) };
  });
}

function isQuestionPath(p) {
  return /^\/surveys\/[^/]+\/q\/[^/?]+/.test(p);
}

function questionId(p) {
  const m = p.match(/^\/surveys\/[^/]+\/q\/([^/?]+)/);
  return m ? m[1] : null;
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** A plain-text table. rows: array of arrays; the first is the header. */
function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  const line = (r) => r.map((c, i) => pad(c, widths[i])).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

function seconds(since) {
  return ((Date.now() - since) / 1000).toFixed(1);
}

/** Runs main(), printing failures and setting the exit code. */
function run(name, main) {
  const started = Date.now();
  main()
    .then((ok) => {
      console.log(`${name}: ${ok === false ? 'FAILED' : 'passed'} in ${seconds(started)} s`);
      process.exitCode = ok === false ? 1 : 0;
    })
    .catch((e) => {
      console.error(`${name}: FAILED in ${seconds(started)} s: ${e.testFailure ? e.message : e.stack}`);
      process.exitCode = 1;
    });
}

module.exports = {
  BASE_URL,
  BIN,
  DEFINITIONS,
  AXE_TAGS,
  VOICES,
  voicesOf,
  launch,
  axeContext,
  surveyDefinitions,
  url,
  pathOf,
  fail,
  assert,
  runAxe,
  stateContrast,
  reflow,
  formatViolations,
  describeQuestion,
  errorSummary,
  isQuestionPath,
  questionId,
  table,
  seconds,
  run,
};

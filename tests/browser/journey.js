'use strict';
// Driving the respondent journey in a browser with ordinary Playwright
// actions (clicks and fills): used by the axe run and the no-JavaScript run.
// The keyboard-only run (keyboard.js) has its own driver.

const fs = require('fs');
const path = require('path');
const { url, pathOf, assert, fail, describeQuestion, errorSummary, isQuestionPath, questionId } = require('./lib');

const REPO = path.resolve(__dirname, '..', '..');

/**
 * The option code that sets each voice on the survey's "who is answering"
 * page, read from the definition file (the page with `sets_voice: true`).
 */
function voiceCodes(survey) {
  const text = fs.readFileSync(path.resolve(REPO, survey.file), 'utf8');
  const lines = text.split('\n');
  const at = lines.findIndex((l) => /^\s*sets_voice:\s*true\b/.test(l));
  assert(at >= 0, `${survey.file}: no page with sets_voice: true`);
  let start = at;
  while (start > 0 && !/^\s*- id:/.test(lines[start])) start--;
  const indent = lines[start].match(/^(\s*)-/)[1].length;
  let end = at + 1;
  const nextPage = new RegExp(`^ {${indent}}- `);
  while (end < lines.length && !nextPage.test(lines[end])) end++;
  const block = lines.slice(start, end).join('\n');
  const codes = {};
  const re = /code:\s*["']?([\w+-]+)["']?[\s\S]*?\bvoice:\s*["']?(\w+)["']?/g;
  let m;
  while ((m = re.exec(block))) codes[m[2]] = m[1];
  for (const voice of Object.keys(survey.pages_per_voice)) {
    assert(codes[voice], `${survey.file}: no option on the voice page sets voice ${voice}`);
  }
  Object.defineProperty(codes, 'pageId', { value: lines[start].match(/- id:\s*["']?([\w-]+)/)[1], enumerable: false });
  return codes;
}

/** Navigates and insists on a 200. */
async function goto(page, p) {
  const response = await page.goto(url(p), { waitUntil: 'load' });
  assert(response && response.status() === 200, `GET ${p} answered ${response && response.status()}`);
  return response;
}

/**
 * Clicks something that submits a form or follows a link, and waits for the
 * page it leads to; the final response must be a 200. A 429 from a rate
 * limiter is waited out and the click repeated once the page is back.
 */
async function clickAndWait(page, locator, what) {
  for (let attempt = 0; ; attempt++) {
    const before = pathOf(page);
    const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), locator.click()]);
    const status = response && response.status();
    if (status === 429 && attempt < 3) {
      console.log(`  (rate limited after ${what}; waiting 20 s)`);
      await new Promise((r) => setTimeout(r, 20000));
      await page.goBack({ waitUntil: 'load' });
      assert(pathOf(page) === before, `could not go back to ${before} to repeat ${what}`);
      continue;
    }
    assert(status === 200, `${what} on ${before} answered ${status} at ${pathOf(page)}`);
    return response;
  }
}

function continueButton(page) {
  return page.locator('main form button[type=submit]');
}

async function htmlLang(page) {
  return page.evaluate(() => document.documentElement.lang);
}

/**
 * Checks an error summary: it is shown, each link points at a field that is
 * on the page and can take focus.
 */
async function checkErrorSummary(page, where) {
  const summary = await errorSummary(page);
  assert(summary, `no error summary on ${where}`);
  assert(summary.links.length > 0, `the error summary on ${where} has no links`);
  for (const link of summary.links) {
    const target = await page.evaluate((href) => {
      const el = href && href.startsWith('#') ? document.getElementById(href.slice(1)) : null;
      return el && { tag: el.tagName.toLowerCase(), type: el.type || null };
    }, link.href);
    assert(target, `error summary link ${link.href} ("${link.text}") on ${where} points at nothing`);
    assert(
      ['input', 'select', 'textarea'].includes(target.tag),
      `error summary link ${link.href} on ${where} points at a <${target.tag}>, not the field to fix`,
    );
  }
  const title = await page.title();
  return { summary, title };
}

/** What a value that can never be accepted looks like for each free-entry kind. */
async function typeInvalid(page, q) {
  switch (q.kind) {
    case 'number':
      await page.fill(`#${q.id}`, 'twelve');
      return true;
    case 'date':
      await page.fill(`#${q.inputs[0]}`, '31');
      await page.fill(`#${q.inputs[1]}`, '2');
      await page.fill(`#${q.inputs[2]}`, '2024');
      return true;
    case 'text':
    case 'textarea':
      if (!q.maxLength) return false;
      await page.fill(`#${q.id}`, 'x'.repeat(q.maxLength + 1));
      return true;
    default:
      return false;
  }
}

/**
 * Answers the current question. `pass` picks which radio option (so later
 * passes open other branches); `attempt` backs off when an answer is refused
 * (too many boxes ticked, a number out of range).
 */
async function answer(page, q, { pass, attempt, voiceCode }) {
  switch (q.kind) {
    case 'radios': {
      const option = voiceCode
        ? q.options.find((o) => o.value === voiceCode)
        : q.options[(pass + attempt) % q.options.length];
      assert(option, `no option ${voiceCode} on the voice page`);
      await page.check(`#${CSS_escape(option.id)}`);
      return option.label;
    }
    case 'likert':
      for (const g of q.groups) await page.check(`#${CSS_escape(g.options[(pass + attempt) % g.options.length].id)}`);
      return 'likert';
    case 'checkboxes': {
      const regular = q.options.filter((o) => !o.exclusive);
      const take = [regular.length, 3, 2, 1][Math.min(attempt, 3)];
      for (const o of q.options) await page.setChecked(`#${CSS_escape(o.id)}`, false);
      for (const o of regular.slice(0, take)) await page.check(`#${CSS_escape(o.id)}`);
      return `${take} boxes`;
    }
    case 'select':
      await page.selectOption(`#${CSS_escape(q.id)}`, q.values[(pass + attempt) % q.values.length]);
      return 'option';
    case 'number': {
      const value = ['40', '1', '0', '5'][Math.min(attempt, 3)];
      await page.fill(`#${CSS_escape(q.id)}`, value);
      return value;
    }
    case 'date': {
      const [d, m, y] = [['1', '1', '2024'], ['15', '6', '2025'], ['1', '1', '2021']][Math.min(attempt, 2)];
      await page.fill(`#${CSS_escape(q.inputs[0])}`, d);
      await page.fill(`#${CSS_escape(q.inputs[1])}`, m);
      await page.fill(`#${CSS_escape(q.inputs[2])}`, y);
      return `${d} ${m} ${y}`;
    }
    case 'text':
    case 'textarea':
      await page.fill(`#${CSS_escape(q.id)}`, 'Everything was explained well.');
      return 'text';
    default:
      fail(`cannot answer a question of kind ${q.kind} on ${pathOf(page)}`);
  }
  return null;
}

// Question ids are plain identifiers; escape anything else for a CSS selector.
function CSS_escape(id) {
  return id.replace(/([^a-zA-Z0-9_-])/g, '\\$1').replace(/^(\d)/, '\\3$1 ');
}

/**
 * Answers the question on the page and moves on, trying gentler answers if
 * the page refuses one. Returns the path it lands on.
 */
async function answerAndContinue(page, q, opts) {
  const here = pathOf(page);
  for (let attempt = 0; attempt < 4; attempt++) {
    await answer(page, q, { ...opts, attempt });
    await clickAndWait(page, continueButton(page), 'Continue');
    const now = pathOf(page);
    if (now !== here.split('?')[0] || !(await errorSummary(page))) return now;
  }
  const summary = await errorSummary(page);
  fail(`${here} kept refusing answers: ${JSON.stringify(summary)}`);
  return null;
}

module.exports = {
  voiceCodes,
  goto,
  clickAndWait,
  continueButton,
  htmlLang,
  checkErrorSummary,
  typeInvalid,
  answer,
  answerAndContinue,
  describeQuestion,
  errorSummary,
  isQuestionPath,
  questionId,
  CSS_escape,
};

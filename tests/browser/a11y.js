'use strict';
// axe-core at WCAG 2.2 A/AA on every page of the respondent journey, for
// every survey, language and voice: the start page, every question page the
// voice can be shown (walked as often as it takes to open every branch),
// each question's error states, check answers, a "change" page, the
// confirmation, privacy, save and come back later (and the code page), the
// resume page (and its error), delete and deleted, invitation links, and
// the pages outside any survey (list, accessibility statement, not found).
//
// On every checked page it also checks reflow at 320 CSS px (WCAG 1.4.10),
// and once per language and kind of page, the text contrast of links and
// buttons when hovered, focused, pressed and visited (states axe never
// sees). A self-test first plants one problem of each kind on a scratch
// page and insists each check reports it.
//
// Fails on any violation; also fails when fewer distinct question pages
// were visited for a voice than `joinedup check --json` says the voice can
// be shown, or when axe did not really run its rules on a page.

const { execFileSync } = require('child_process');
const lib = require('./lib');
const j = require('./journey');

const { url, pathOf, assert, runAxe, formatViolations, table } = lib;

const MAX_PASSES = 6;
const allViolations = [];
// Problems the test found that are not axe violations and need a change in
// the handlers: printed at the end; fatal only with A11Y_STRICT=1.
const findings = new Set();
function finding(text) {
  if (!findings.has(text)) console.log(`  FINDING: ${text}`);
  findings.add(text);
}
const rows = [];
let axeRuns = 0;
const stateChecked = new Set();
const printedContrast = new Set();
const engines = new Set();

function newRecord(survey, language, voice) {
  return {
    survey,
    language,
    voice,
    expected: survey.pages_per_voice[voice] || 0,
    questions: new Set(),
    errorChecked: new Set(),
    errorStates: 0,
    noErrorState: new Set(),
    other: new Set(),
    runs: 0,
    minApplied: Infinity,
    rules: new Set(),
    violations: 0,
    reflowChecks: 0,
    reflowFailures: 0,
    stateChecks: 0,
    stateFailures: 0,
    passes: 0,
  };
}

/**
 * Checks the page: axe at WCAG 2.2 A/AA, reflow at 320 px, and (once per
 * language and kind of page) link and button contrast in every state.
 * Books the results to the record.
 */
async function axe(page, record, label, kind) {
  const run = await runAxe(page);
  axeRuns++;
  engines.add(run.engine);
  record.runs++;
  record.minApplied = Math.min(record.minApplied, run.applied);
  run.appliedIds.forEach((id) => record.rules.add(id));
  record.violations += run.violations.length;
  const where = `${record.survey.id}/${record.language}/${record.voice || '-'}`;
  const book = (id, impact, targets, extra) =>
    allViolations.push({ where, label, url: run.url, id, impact, targets, extra });
  if (run.violations.length) {
    console.log(formatViolations(run, `${where} ${label}`));
    for (const v of run.violations) book(v.id, v.impact, v.nodes.map((n) => n.target));
  }

  const sticking = await lib.reflow(page);
  record.reflowChecks++;
  if (sticking.length) {
    record.reflowFailures++;
    console.log(`  REFLOW (WCAG 1.4.10) on ${run.url} [${where} ${label}]: sideways scrolling at 320 px`);
    for (const e of sticking) console.log(`    ${e.target} reaches ${e.right}px: "${e.text}"`);
    book('reflow-320px', 'serious', sticking.map((e) => e.target), sticking[0].text);
  }

  const stateKey = `${record.language}/${kind}`;
  if (kind && !stateChecked.has(stateKey)) {
    stateChecked.add(stateKey);
    record.stateChecks++;
    const bad = await lib.stateContrast(page);
    if (bad.length) record.stateFailures += bad.length;
    for (const b of bad) {
      const key = `${b.state} ${JSON.stringify(b.target)} ${b.message}`;
      if (!printedContrast.has(key)) {
        printedContrast.add(key);
        console.log(`  CONTRAST in state :${b.state} on ${run.url} [${where} ${label}] ${JSON.stringify(b.target)}: ${b.message}`);
      }
      book(`color-contrast:${b.state}`, 'serious', [b.target], b.message);
    }
  }
  if (process.env.A11Y_VERBOSE) {
    console.log(`  axe ${where} ${label} ${pathOf(page)}: ${run.applied} rules applied, ${run.violations.length} violations`);
  }
  return run;
}

/**
 * One walk through the survey from the start page to the confirmation,
 * as one voice, answering with the pass's choices. Every question page not
 * yet seen in this voice is checked, with its error states.
 */
async function walk(browser, survey, language, voice, voiceCode, pass, record) {
  const context = await lib.axeContext(browser, { locale: language === 'en' ? 'en-GB' : language });
  const page = await context.newPage();
  const voicePage = j.voiceCodes(survey).pageId;
  let sawVoicePage = false;
  try {
    await j.goto(page, `/surveys/${survey.id}?lang=${language}`);
    assert((await j.htmlLang(page)) === language, `start page of ${survey.id}?lang=${language} has lang ${await j.htmlLang(page)}`);
    if (!record.other.has('start')) {
      await axe(page, record, 'start page', 'start');
      record.other.add('start');
    }
    await j.clickAndWait(page, j.continueButton(page), 'Start now');

    for (let step = 0; ; step++) {
      assert(step < 100, `${survey.id}: more than 100 pages without reaching check answers`);
      const here = pathOf(page);
      if (here.startsWith(`/surveys/${survey.id}/check`)) break;
      assert(j.isQuestionPath(here), `expected a question page or check answers, got ${here}`);
      const id = j.questionId(here);
      const lang = await j.htmlLang(page);
      assert(lang === language, `${here} has lang="${lang}", expected ${language}`);
      let q = await j.describeQuestion(page);
      assert(q && q.kind !== 'unknown', `${here}: no question found`);

      if (!record.questions.has(id)) {
        await axe(page, record, `question ${id}`, `question-${q.kind}`);
        record.questions.add(id);
      }

      if (!record.errorChecked.has(id)) {
        record.errorChecked.add(id);
        let sawError = false;
        // Continue with nothing answered: the "required" error state.
        await j.clickAndWait(page, j.continueButton(page), 'Continue (empty)');
        if (pathOf(page) === here.split('?')[0] && (await j.errorSummary(page))) {
          await j.checkErrorSummary(page, `${here} (empty)`);
          const title = await page.title();
          assert(/^\S+:? /.test(title), `the title of ${here} with errors does not start with the error prefix: ${title}`);
          await axe(page, record, `question ${id}, nothing answered`, `error-${q.kind}`);
          record.errorStates++;
          sawError = true;
        } else {
          // An optional question: it moved on. Go back to answer it.
          await j.goto(page, here);
        }
        // An answer that can never be accepted: the "invalid" error state.
        q = await j.describeQuestion(page);
        if (await j.typeInvalid(page, q)) {
          await j.clickAndWait(page, j.continueButton(page), 'Continue (invalid)');
          assert(pathOf(page) === here.split('?')[0], `${here} accepted an invalid answer and went to ${pathOf(page)}`);
          await j.checkErrorSummary(page, `${here} (invalid)`);
          await axe(page, record, `question ${id}, invalid answer`, `invalid-${q.kind}`);
          record.errorStates++;
          sawError = true;
          q = await j.describeQuestion(page);
        }
        if (!sawError) record.noErrorState.add(id);
      }

      const isVoicePage = id === voicePage;
      if (isVoicePage) sawVoicePage = true;
      await j.answerAndContinue(page, q, { pass, voiceCode: isVoicePage ? voiceCode : null });
    }

    assert(sawVoicePage, `${survey.id}: the walk never asked who is answering (${voicePage})`);

    // Check answers.
    if (!record.other.has('check')) {
      await axe(page, record, 'check answers', 'check');
      record.other.add('check');
      // A "Change" link: the question page again, going back to check answers.
      const change = page.locator('.nhsuk-summary-list__actions a').nth(1);
      await j.clickAndWait(page, change, 'Change');
      assert(/[?&]change=1/.test(pathOf(page)), `a Change link led to ${pathOf(page)}`);
      await axe(page, record, `change ${j.questionId(pathOf(page))}`, 'change');
      record.other.add('change');
      await j.goto(page, `/surveys/${survey.id}/check`);
    }
    const rowCount = await page.locator('.nhsuk-summary-list__row').count();
    assert(rowCount > 0, `check answers for ${survey.id} lists no answers`);
    await j.clickAndWait(page, j.continueButton(page), 'Send');
    assert(pathOf(page) === `/surveys/${survey.id}/done`, `sending led to ${pathOf(page)}`);
    const reference = await page.locator('.nhsuk-panel strong').textContent();
    assert(reference && reference.trim().length > 0, `no reference on the confirmation page of ${survey.id}`);
    if (!record.other.has('done')) {
      await axe(page, record, 'confirmation', 'done');
      record.other.add('done');
    }
    record.passes++;
  } finally {
    await context.close();
  }
}

/**
 * The pages around the questions, in one language: privacy, switching
 * language on a question page, save and come back later (and the code it
 * shows), the resume page, its error, resuming, delete and deleted.
 */
async function sidePages(browser, survey, language, record, { resumeError }) {
  const context = await lib.axeContext(browser);
  const page = await context.newPage();
  let code;
  try {
    await j.goto(page, `/surveys/${survey.id}?lang=${language}`);
    await j.clickAndWait(page, page.locator('main a[href*="/privacy"]'), 'privacy notice link');
    assert(pathOf(page).startsWith(`/surveys/${survey.id}/privacy`), `the privacy link led to ${pathOf(page)}`);
    if ((await j.htmlLang(page)) !== language) {
      finding(
        `the privacy notice link on the ${language} start page of ${survey.id} goes to ${pathOf(page)}, ` +
          `which is in ${await j.htmlLang(page)}: the link (and the footer's) carries no ?lang=`,
      );
      await j.goto(page, `/surveys/${survey.id}/privacy?lang=${language}`);
    }
    assert((await j.htmlLang(page)) === language, `privacy notice of ${survey.id} not in ${language}`);
    await axe(page, record, 'privacy notice', 'privacy');
    record.other.add('privacy');

    await j.goto(page, `/surveys/${survey.id}?lang=${language}`);
    await j.clickAndWait(page, j.continueButton(page), 'Start now');
    const first = pathOf(page);

    // The language switch on a question page, there and back.
    const others = survey.languages.filter((l) => l !== language);
    for (const other of others) {
      const link = page.locator(`nav a[hreflang="${other}"]`);
      assert((await link.count()) === 1, `no link to ${other} on ${first}`);
      await j.clickAndWait(page, link, `language link to ${other}`);
      assert((await j.htmlLang(page)) === other, `the ${other} link on ${first} gave lang ${await j.htmlLang(page)}`);
      assert(pathOf(page).split('?')[0] === first, `the ${other} link on ${first} went to ${pathOf(page)}`);
      await j.clickAndWait(page, page.locator(`nav a[hreflang="${language}"]`), `language link back to ${language}`);
      assert((await j.htmlLang(page)) === language, `the ${language} link did not switch back`);
    }

    // The header (service name) and footer (privacy) links from a question
    // page should keep the respondent's language.
    for (const [what, selector] of [
      ['header link', 'header a[href]'],
      ['footer privacy link', 'footer a[href*="/privacy"]'],
    ]) {
      await j.clickAndWait(page, page.locator(selector), what);
      const lang = await j.htmlLang(page);
      if (lang !== language) {
        finding(`the ${what} on a ${language} question page of ${survey.id} leads to ${pathOf(page)}, which is in ${lang}`);
      }
      await j.goto(page, first);
    }

    // Save and come back later.
    await j.clickAndWait(page, page.locator(`main a[href="/surveys/${survey.id}/save"]`), 'save and come back later link');
    await axe(page, record, 'save and come back later', 'save');
    await j.clickAndWait(page, j.continueButton(page), 'Save and come back later');
    code = (await page.locator('.joinedup-resume-code').textContent()).trim();
    assert(/^[A-Z0-9-]{6,}$/.test(code), `no resume code shown: "${code}"`);
    await axe(page, record, 'answers saved (code)', 'saved');
    record.other.add('save');
  } finally {
    await context.close();
  }

  // Another browser: the start page's "I have a code" link.
  const context2 = await lib.axeContext(browser);
  const page2 = await context2.newPage();
  try {
    await j.goto(page2, `/surveys/${survey.id}?lang=${language}`);
    await j.clickAndWait(page2, page2.locator('main a[href^="/resume"]'), 'resume link');
    assert(pathOf(page2).startsWith('/resume'), `the resume link led to ${pathOf(page2)}`);
    await axe(page2, record, 'resume', 'resume');
    if (resumeError) {
      await page2.fill('#code', 'AAAAA-22222');
      await j.clickAndWait(page2, j.continueButton(page2), 'Continue (wrong code)');
      await j.checkErrorSummary(page2, '/resume (wrong code)');
      if ((await j.htmlLang(page2)) !== language) {
        finding(`a wrong code on the ${language} resume page of ${survey.id} answers in ${await j.htmlLang(page2)}`);
      }
      await axe(page2, record, 'resume, wrong code', 'resume-error');
      record.errorStates++;
    }
    await page2.fill('#code', code);
    await j.clickAndWait(page2, j.continueButton(page2), 'Continue (code)');
    assert(j.isQuestionPath(pathOf(page2)), `resuming with the code led to ${pathOf(page2)}`);
    assert((await j.htmlLang(page2)) === language, `resumed in ${await j.htmlLang(page2)}, not ${language}`);
    record.other.add('resume');

    await j.clickAndWait(page2, page2.locator(`main a[href="/surveys/${survey.id}/delete"]`), 'delete link');
    await axe(page2, record, 'delete', 'delete');
    await j.clickAndWait(page2, j.continueButton(page2), 'Yes, delete');
    assert((await page2.locator('main form').count()) === 0, 'the deleted page still has a form');
    await axe(page2, record, 'deleted', 'deleted');
    record.other.add('delete');
  } finally {
    await context2.close();
  }
}

/**
 * Invitation links (`joinedup token issue`, with the voice preset): the
 * invited start page, the first question (the voice question is skipped),
 * and through to the confirmation. Needs the server's database, which
 * scripts/browser-tests.sh passes in JOINEDUP_DATABASE_URL.
 */
async function invitations(browser, surveys) {
  const db = process.env.JOINEDUP_DATABASE_URL;
  if (!db) {
    console.log('invitations: skipped (JOINEDUP_DATABASE_URL is not set)');
    return;
  }
  for (const survey of surveys) {
    const codes = j.voiceCodes(survey);
    const voices = lib.voicesOf(survey);
    for (const language of survey.languages) {
      const voice = voices[voices.length - 1];
      const out = execFileSync(
        lib.BIN,
        ['token', 'issue', '--database-url', db, '--definitions', lib.DEFINITIONS, '--survey', survey.id, '--language', language, '--voice', voice],
        { encoding: 'utf8' },
      );
      const link = out.trim().split('\n').pop();
      const invitePath = new URL(link).pathname;
      assert(/^\/s\/\w+$/.test(invitePath), `joinedup token issue printed ${link}`);
      const record = newRecord(survey, language, `${voice} (invited)`);
      const context = await lib.axeContext(browser);
      const page = await context.newPage();
      try {
        await j.goto(page, invitePath);
        assert((await j.htmlLang(page)) === language, `invited start page of ${survey.id} not in ${language}`);
        await axe(page, record, 'invited start page', 'start-invited');
        record.other.add('invited-start');
        await j.clickAndWait(page, j.continueButton(page), 'Start now (invited)');
        for (let step = 0; !pathOf(page).startsWith(`/surveys/${survey.id}/check`); step++) {
          assert(step < 100, 'too many pages');
          const here = pathOf(page);
          assert(j.isQuestionPath(here), `expected a question page, got ${here}`);
          const id = j.questionId(here);
          assert(id !== codes.pageId, `the invitation presets the voice, yet ${here} asks for it`);
          if (step === 0) await axe(page, record, `question ${id} (invited)`, null);
          record.questions.add(id);
          await j.answerAndContinue(page, await j.describeQuestion(page), { pass: 0 });
        }
        await j.clickAndWait(page, j.continueButton(page), 'Send');
        assert(pathOf(page) === `/surveys/${survey.id}/done`, `sending went to ${pathOf(page)}`);
        await axe(page, record, 'confirmation (invited)', null);
        record.other.add('done');
      } finally {
        await context.close();
      }
      rows.push(record);
      console.log(`${survey.id} ${language} ${voice} (invited): ${record.questions.size} question pages, confirmation reached`);
    }
  }
}

/**
 * The checks must be able to fail: plant one problem of each kind on a
 * scratch page and insist that axe, the reflow check and the state-contrast
 * check each report it.
 */
async function selfTest(browser) {
  const context = await lib.axeContext(browser);
  const page = await context.newPage();
  try {
    await page.setContent(`<!DOCTYPE html><html lang="en"><head><title>planted problems</title>
      <style>a.planted:hover { color: #eeeeee } a.planted:visited { color: #f0f0f0 }</style></head>
      <body><main><h1>Planted problems</h1>
      <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
      <p><a class="planted" href="/">a link that fades when hovered or visited</a></p>
      <div style="width: 900px">too wide for a phone</div>
      </main></body></html>`);
    const run = await runAxe(page);
    assert(run.violations.some((v) => v.id === 'image-alt'), 'self-test: axe missed a planted image-alt violation');
    const wide = await lib.reflow(page);
    assert(wide.length > 0, 'self-test: the reflow check missed a 900 px wide block');
    const states = await lib.stateContrast(page);
    for (const state of ['hover', 'visited']) {
      assert(states.some((b) => b.state === state), `self-test: the state-contrast check missed a planted :${state} colour`);
    }
    console.log(`self-test: axe (${run.engine}), reflow and state contrast each caught their planted problem`);
  } finally {
    await context.close();
  }
}

async function main() {
  // A11Y_ONLY=survey_id[,survey_id] narrows the run while working on a fix.
  const only = process.env.A11Y_ONLY ? process.env.A11Y_ONLY.split(',') : null;
  const surveys = lib.surveyDefinitions().filter((s) => !only || only.includes(s.id));
  assert(surveys.length > 0, `no surveys to check (A11Y_ONLY=${process.env.A11Y_ONLY})`);
  const browser = await lib.launch();
  const failures = [];
  try {
    await selfTest(browser);

    // Pages outside any survey.
    const site = newRecord({ id: '(site)', pages_per_voice: {} }, 'en', null);
    const context = await lib.axeContext(browser);
    const page = await context.newPage();
    await j.goto(page, '/');
    await axe(page, site, 'home', 'home');
    site.other.add('home');
    await j.goto(page, '/accessibility');
    await axe(page, site, 'accessibility statement', 'accessibility');
    site.other.add('accessibility');
    await j.goto(page, '/resume');
    await axe(page, site, 'resume (no survey)', 'resume-site');
    site.other.add('resume');
    // The way in from a letter, and its error state.
    await j.goto(page, '/s');
    await axe(page, site, 'letter code', 'letter-code');
    await page.fill('#code', 'AAAA-2222-333');
    await j.clickAndWait(page, j.continueButton(page), 'Continue (wrong letter code)');
    await j.checkErrorSummary(page, '/s (wrong code)');
    await axe(page, site, 'letter code, wrong code', 'letter-code-error');
    site.other.add('letter code');
    const missing = await page.goto(url('/surveys/no_such_survey'));
    assert(missing.status() === 404, `an unknown survey answered ${missing.status()}`);
    await axe(page, site, 'not found', '404');
    site.other.add('404');
    await context.close();
    rows.push(site);

    // One task per survey, language and voice; A11Y_WORKERS of them at a
    // time (each in its own browser context), as the run mostly waits.
    const tasks = [];
    for (const survey of surveys) {
      const codes = j.voiceCodes(survey);
      const voices = lib.voicesOf(survey);
      for (const language of survey.languages) {
        for (const voice of voices) {
          tasks.push({ survey, language, voice, code: codes[voice], sidePages: voice === voices[0] });
        }
      }
    }
    const resumeErrorDone = new Set();
    const done = new Array(tasks.length);
    let next = 0;
    const worker = async () => {
      while (next < tasks.length) {
        const index = next++;
        const { survey, language, voice, code } = tasks[index];
        const record = newRecord(survey, language, voice);
        const started = Date.now();
        for (let pass = 0; pass < MAX_PASSES && record.questions.size < record.expected; pass++) {
          await walk(browser, survey, language, voice, code, pass, record);
        }
        if (tasks[index].sidePages) {
          const resumeError = !resumeErrorDone.has(language);
          resumeErrorDone.add(language);
          await sidePages(browser, survey, language, record, { resumeError });
        }
        record.seconds = lib.seconds(started);
        done[index] = record;
        console.log(
          `${survey.id} ${language} ${voice}: ${record.questions.size}/${record.expected} question pages in ${record.passes} walk(s), ` +
            `${record.errorStates} error states, ${record.runs} axe runs, ${record.violations} axe violations (${record.seconds} s)`,
        );
        if (record.questions.size < record.expected) {
          failures.push(
            `${survey.id} ${language} ${voice}: visited ${record.questions.size} question pages, ` +
              `the definition can show ${record.expected} (${[...record.questions].join(', ')})`,
          );
        }
      }
    };
    const workers = Math.max(1, Number(process.env.A11Y_WORKERS || 2));
    await Promise.all(Array.from({ length: workers }, worker));
    rows.push(...done);

    await invitations(browser, surveys);
  } finally {
    await browser.close();
  }

  console.log(`\nAccessibility summary (${[...engines].join(', ')}, tags ${lib.AXE_TAGS.join(' ')})\n`);
  const header = [
    'survey', 'lang', 'voice', 'question pages', 'error states', 'other pages', 'axe runs',
    'rules applied (min/page)', 'rules applied (distinct)', 'axe violations',
    'reflow checks', 'reflow failures', 'state-contrast checks', 'state-contrast failures',
  ];
  const body = rows.map((r) => [
    r.survey.id,
    r.language,
    r.voice || '-',
    !r.voice ? '-' : r.expected ? `${r.questions.size}/${r.expected}` : `${r.questions.size}`,
    r.errorStates,
    [...r.other].join(' '),
    r.runs,
    r.minApplied === Infinity ? 0 : r.minApplied,
    r.rules.size,
    r.violations,
    r.reflowChecks,
    r.reflowFailures,
    r.stateChecks,
    r.stateFailures,
  ]);
  const totals = rows.reduce(
    (t, r) => ({
      q: t.q + r.questions.size,
      e: t.e + r.errorStates,
      runs: t.runs + r.runs,
      v: t.v + r.violations,
      rc: t.rc + r.reflowChecks,
      rf: t.rf + r.reflowFailures,
      sc: t.sc + r.stateChecks,
      sf: t.sf + r.stateFailures,
    }),
    { q: 0, e: 0, runs: 0, v: 0, rc: 0, rf: 0, sc: 0, sf: 0 },
  );
  body.push(['total', '', '', totals.q, totals.e, '', totals.runs, '', '', totals.v, totals.rc, totals.rf, totals.sc, totals.sf]);
  console.log(table([header, ...body]));
  const notes = rows.filter((r) => r.noErrorState.size);
  if (notes.length) {
    console.log('\nQuestion pages with no error state (optional choices): ' +
      [...new Set(notes.flatMap((r) => [...r.noErrorState].map((id) => `${r.survey.id}/${id}`)))].join(', '));
  }

  if (allViolations.length) {
    console.log(`\n${allViolations.length} violations (axe, reflow, contrast in link and button states):`);
    const byRule = new Map();
    for (const v of allViolations) {
      const key = `${v.id} (${v.impact})`;
      byRule.set(key, (byRule.get(key) || []).concat(`${v.url} [${v.where} ${v.label}] ${JSON.stringify(v.targets)}`));
    }
    for (const [rule, where] of byRule) {
      console.log(`  ${rule}: ${where.length} pages`);
      where.slice(0, 5).forEach((w) => console.log(`    ${w}`));
      if (where.length > 5) console.log(`    ... and ${where.length - 5} more`);
    }
  }
  if (findings.size) {
    console.log(`\n${findings.size} findings that need a handler change (fatal with A11Y_STRICT=1):`);
    for (const f of findings) console.log(`  - ${f}`);
    if (process.env.A11Y_STRICT) failures.push(`${findings.size} findings`);
  }
  for (const f of failures) console.log(`FAIL: ${f}`);
  assert(axeRuns > 0, 'axe never ran');
  return allViolations.length === 0 && failures.length === 0;
}

lib.run('a11y', main);

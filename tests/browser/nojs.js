'use strict';
// The whole journey of every survey with JavaScript switched off in the
// browser (javaScriptEnabled: false), from the list of surveys to the
// confirmation page: each voice in the survey's first language and one
// voice in each other language. On the way it uses the Back link, a Change
// link on check answers, and (once per survey) save and come back later
// with the code. It also checks the pages carry no scripts at all and that
// the server sends `script-src 'none'`.

const lib = require('./lib');
const j = require('./journey');

const { url, pathOf, assert, table } = lib;

const rows = [];

async function checkNoScripts(page, response, seenCsp) {
  const scripts = await page.locator('script').count();
  assert(scripts === 0, `${pathOf(page)} has ${scripts} <script> elements`);
  const csp = (await response.allHeaders())['content-security-policy'] || '';
  assert(/script-src 'none'/.test(csp), `${pathOf(page)} is served without script-src 'none': "${csp}"`);
  seenCsp.add(pathOf(page).split('?')[0]);
}

async function journey(browser, survey, language, voice, voiceCode, { saveAndResume }) {
  const started = Date.now();
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  // The last document response of the page, for its headers.
  let documentResponse = null;
  page.on('response', (r) => {
    if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) documentResponse = r;
  });
  const seen = new Set();
  const csp = new Set();
  const voicePage = j.voiceCodes(survey).pageId;
  let code = null;
  try {
    // Script execution really is off in this browser.
    await j.goto(page, '/');
    const ran = await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'document.documentElement.dataset.ran = "yes"';
      document.body.appendChild(s);
      return document.documentElement.dataset.ran || 'no';
    });
    assert(ran === 'no', 'a script ran although JavaScript is disabled');

    await j.clickAndWait(page, page.locator(`main a[href="/surveys/${survey.id}"]`), `the link to ${survey.id}`);
    if (language !== survey.languages[0]) {
      await j.clickAndWait(page, page.locator(`nav a[hreflang="${language}"]`), `the ${language} link`);
    }
    assert((await j.htmlLang(page)) === language, `start page not in ${language}`);
    await j.clickAndWait(page, j.continueButton(page), 'Start now');

    for (let step = 0; ; step++) {
      assert(step < 100, 'too many pages');
      const here = pathOf(page);
      if (here.startsWith(`/surveys/${survey.id}/check`)) break;
      assert(j.isQuestionPath(here), `expected a question page, got ${here}`);
      await checkNoScripts(page, documentResponse, csp);
      const id = j.questionId(here);
      seen.add(id);
      let q = await j.describeQuestion(page);

      // The second page: go Back and come forward again.
      if (step === 1) {
        await j.clickAndWait(page, page.locator('a.nhsuk-back-link, .nhsuk-back-link a'), 'Back');
        assert(j.isQuestionPath(pathOf(page)) && pathOf(page) !== here, `Back from ${here} went to ${pathOf(page)}`);
        await j.clickAndWait(page, j.continueButton(page), 'Continue (after Back)');
        assert(pathOf(page) === here, `Continue after Back went to ${pathOf(page)}, not ${here}`);
        q = await j.describeQuestion(page);
      }
      // The first page: a bad submit shows the error summary.
      if (step === 0) {
        await j.clickAndWait(page, j.continueButton(page), 'Continue (empty)');
        await j.checkErrorSummary(page, here);
        // autofocus acts at the next rendering step, possibly just after load.
        let focusedSummary = false;
        for (let i = 0; i < 40 && !focusedSummary; i++) {
          if (i) await page.waitForTimeout(50);
          focusedSummary = await page.evaluate(() => document.activeElement.classList.contains('nhsuk-error-summary'));
        }
        assert(focusedSummary, `without JavaScript the error summary on ${here} did not take focus`);
      }
      // Save and come back later, in a second browser, without JavaScript.
      if (saveAndResume && step === 2) {
        await j.clickAndWait(page, page.locator(`main a[href="/surveys/${survey.id}/save"]`), 'save link');
        await j.clickAndWait(page, j.continueButton(page), 'Save and come back later');
        code = (await page.locator('.joinedup-resume-code').textContent()).trim();
        const other = await browser.newContext({ javaScriptEnabled: false });
        const page2 = await other.newPage();
        await j.goto(page2, `/resume?survey=${survey.id}&lang=${language}`);
        await page2.fill('#code', code);
        await j.clickAndWait(page2, j.continueButton(page2), 'Continue (code)');
        assert(pathOf(page2) === here, `resuming with the code went to ${pathOf(page2)}, expected ${here}`);
        await other.close();
        await j.goto(page, here);
      }

      await j.answerAndContinue(page, q, { pass: 1, voiceCode: id === voicePage ? voiceCode : null });
    }

    // Check answers: change the first answer after the voice, come back, send.
    const rowCount = await page.locator('.nhsuk-summary-list__row').count();
    assert(rowCount === seen.size, `check answers lists ${rowCount} answers, ${seen.size} pages were answered`);
    await j.clickAndWait(page, page.locator('.nhsuk-summary-list__actions a').last(), 'Change');
    const q = await j.describeQuestion(page);
    await j.answerAndContinue(page, q, { pass: 2 });
    assert(pathOf(page) === `/surveys/${survey.id}/check`, `after a change, Continue went to ${pathOf(page)}`);
    await j.clickAndWait(page, j.continueButton(page), 'Send');
    assert(pathOf(page) === `/surveys/${survey.id}/done`, `sending went to ${pathOf(page)}`);
    const reference = (await page.locator('.nhsuk-panel strong').textContent()).trim();
    assert(reference, 'no reference on the confirmation page');
    assert((await j.htmlLang(page)) === language, `confirmation not in ${language}`);
  } finally {
    await context.close();
  }
  const row = {
    survey: survey.id,
    language,
    voice,
    pages: `${seen.size}`,
    csp: csp.size,
    saved: code ? 'yes' : '-',
    seconds: lib.seconds(started),
  };
  rows.push(row);
  console.log(`${survey.id} ${language} ${voice}: ${seen.size} question pages, confirmation reached (${row.seconds} s)`);
}

async function main() {
  const surveys = lib.surveyDefinitions();
  const browser = await lib.launch();
  try {
    for (const survey of surveys) {
      const codes = j.voiceCodes(survey);
      const voices = lib.voicesOf(survey);
      for (const voice of voices) {
        await journey(browser, survey, survey.languages[0], voice, codes[voice], { saveAndResume: voice === voices[0] });
      }
      for (const language of survey.languages.slice(1)) {
        await journey(browser, survey, language, voices[voices.length - 1], codes[voices[voices.length - 1]], { saveAndResume: false });
      }
    }
  } finally {
    await browser.close();
  }
  console.log('\nNo-JavaScript summary (javaScriptEnabled: false)\n');
  console.log(
    table([
      ['survey', 'lang', 'voice', 'question pages', "pages checked for script-src 'none'", 'save and resume', 'result', 'seconds'],
      ...rows.map((r) => [r.survey, r.language, r.voice, r.pages, r.csp, r.saved, 'confirmation reached', r.seconds]),
    ]),
  );
  return true;
}

lib.run('nojs', main);

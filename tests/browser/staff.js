'use strict';
// axe-core at WCAG 2.2 A/AA on the staff pages (account, survey lead,
// analyst, admin), each as a signed-in user with every role sees it, and on
// the error states of their forms (an empty upload, an empty draft).
//
// The staff account is made with `joinedup user add` in the tests' own
// database (JOINEDUP_DATABASE_URL, set by scripts/browser-tests.sh).

const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const lib = require('./lib');

const EMAIL = 'staff-a11y@example.org';
const PASSWORD = 'a long enough staff password 2026';

// A second keyer, for the blind second keying of double entry.
const SECOND_EMAIL = 'staff-a11y-second@example.org';

function addUser(email, roles) {
  execFileSync(
    lib.BIN,
    ['user', 'add', '--database-url', process.env.JOINEDUP_DATABASE_URL, '--email', email, '--role', roles],
    { input: `${PASSWORD}\n`, encoding: 'utf8' },
  );
}

function addStaffUser() {
  addUser(EMAIL, 'admin,survey_lead,analyst,researcher,data_protection,data_entry');
  addUser(SECOND_EMAIL, 'data_entry');
}

// Two samples of one person each, written to by post, so there are
// returned questionnaires to key: invitee 1 keyed once, invitee 2 (whose
// sample asks for double entry) keyed twice.
function addPostalSamples() {
  const samples = [
    ['"1 High Street, Leeds",LS1 4AP,carer_self', []],
    ['"2 Low Road, York",YO1 7HH,patient', ['--double-entry']],
  ];
  samples.forEach(([line, options], i) => {
    const file = path.join(os.tmpdir(), `joinedup-a11y-sample-${process.pid}-${i}.csv`);
    fs.writeFileSync(file, `ics,address,postcode,voice,language\nE54000008,${line},en\n`);
    execFileSync(
      lib.BIN,
      [
        'invite',
        '--database-url',
        process.env.JOINEDUP_DATABASE_URL,
        '--survey',
        'format_example',
        '--no-send',
        '--sample',
        file,
        ...options,
      ],
      { encoding: 'utf8' },
    );
  });
}

async function signIn(page, email) {
  await page.goto(lib.url('/sign-in'));
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  lib.assert(!page.url().includes('/sign-in'), `signing in as ${email} failed: still on ${page.url()}`);
}

async function submit(page, button) {
  await Promise.all([page.waitForNavigation(), page.click(`button:has-text("${button}")`)]);
}

// Pages a signed-in person with every role can open.
const PAGES = [
  '/account',
  '/account/password',
  '/lead',
  '/lead/surveys/integration_index',
  '/lead/surveys/integration_index/samples/new',
  '/lead/drafts/new',
  '/analyst',
  '/analyst/surveys/integration_index',
  '/analyst/surveys/integration_index/questions',
  '/analyst/margins',
  '/research',
  '/admin',
  '/admin/users',
  '/admin/users/new',
  '/admin/tokens',
  '/admin/audit',
  '/data-protection',
  '/data-entry',
  '/data-entry/forms/1',
  '/data-entry/opt-outs',
];

// Forms sent empty, to check their error states: (page, submit button text).
const EMPTY_FORMS = [
  ['/analyst/margins', 'Upload and check'],
  ['/lead/surveys/integration_index/samples/new', 'Upload and check'],
  ['/data-entry', 'Find the questionnaire'],
  ['/data-entry/opt-outs', 'Find them'],
];

lib.run('staff', async () => {
  addStaffUser();
  addPostalSamples();
  const browser = await lib.launch();
  let violations = 0;
  let runs = 0;
  try {
    const context = await lib.axeContext(browser);
    const page = await context.newPage();
    await signIn(page, EMAIL);

    const check = async (label) => {
      const result = await lib.runAxe(page);
      runs += 1;
      if (result.violations.length) {
        violations += result.violations.length;
        console.log(lib.formatViolations(result, label));
      }
    };
    for (const p of PAGES) {
      const response = await page.goto(lib.url(p));
      lib.assert(response.status() === 200, `${p} answered ${response.status()}`);
      await check(p);
    }
    for (const [p, button] of EMPTY_FORMS) {
      await page.goto(lib.url(p));
      await Promise.all([page.waitForNavigation(), page.click(`button:has-text("${button}")`)]);
      const summary = await page.$('.nhsuk-error-summary');
      lib.assert(summary, `${p}: an empty form shows no error summary`);
      await check(`${p} (empty form)`);
    }
    // A keyed number out of range: the keying page's error state.
    await page.goto(lib.url('/data-entry/forms/1'));
    await page.fill('#caring_hours', '900');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Save this questionnaire")')]);
    lib.assert(await page.$('.nhsuk-error-summary'), 'a keyed number out of range shows no error summary');
    await check('/data-entry/forms/1 (out of range)');
    // Nothing keyed: the blank-form warning.
    await page.goto(lib.url('/data-entry/forms/1'));
    await submit(page, 'Save this questionnaire');
    lib.assert(await page.$('#blank'), 'saving an empty form does not ask to confirm it came back blank');
    await check('/data-entry/forms/1 (blank)');
    // An opt-out by phone, found by address: the confirmation page.
    await page.goto(lib.url('/data-entry/opt-outs'));
    await page.selectOption('#survey_id', 'format_example');
    await page.fill('#first_line', '1 High Street');
    await page.fill('#postcode', 'ls1 4ap');
    await page.check('#heard-phone');
    await submit(page, 'Find them');
    lib.assert(await page.$('button:has-text("Record the opt-out")'), `no opt-out to confirm on ${page.url()}`);
    await check('/data-entry/opt-outs (confirm)');

    // Double entry: the first keying, then a blind second keying that
    // differs, the comparison page, and the accuracy table once resolved.
    await page.goto(lib.url('/data-entry/forms/2'));
    await page.check('input[name=told_once][value=agree]');
    await submit(page, 'Save this questionnaire');
    const second = await (await lib.axeContext(browser)).newPage();
    await signIn(second, SECOND_EMAIL);
    await second.goto(lib.url('/data-entry/forms/2'));
    await second.check('input[name=told_once][value=disagree]');
    await submit(second, 'Save this questionnaire');
    lib.assert(second.url().endsWith('/data-entry/forms/2/compare'), `no comparison after differing keyings: ${second.url()}`);
    await page.goto(lib.url('/data-entry'));
    await check('/data-entry (a form waiting to be resolved)');
    await page.goto(lib.url('/data-entry/forms/2/compare'));
    await check('/data-entry/forms/2/compare');
    await page.check('input[name=told_once][value=agree]');
    await submit(page, 'Save the resolved questionnaire');
    lib.assert(await page.$('text=Keying accuracy'), `no accuracy table after resolving: ${page.url()}`);
    await check('/data-entry (keying accuracy)');
    await context.close();
  } finally {
    await browser.close();
  }
  console.log(`staff pages: ${runs} axe runs, ${violations} axe violations`);
  return violations === 0;
});

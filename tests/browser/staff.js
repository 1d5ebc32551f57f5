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

function addStaffUser() {
  execFileSync(
    lib.BIN,
    [
      'user',
      'add',
      '--database-url',
      process.env.JOINEDUP_DATABASE_URL,
      '--email',
      EMAIL,
      '--role',
      'admin,survey_lead,analyst,researcher,data_protection,data_entry',
    ],
    { input: `${PASSWORD}\n`, encoding: 'utf8' },
  );
}

// A sample of one person written to by post, so there is a returned
// questionnaire to key; the first invitee of a fresh database is id 1.
function addPostalSample() {
  const file = path.join(os.tmpdir(), `joinedup-a11y-sample-${process.pid}.csv`);
  fs.writeFileSync(file, 'ics,address,postcode,voice,language\nE54000008,"1 High Street, Leeds",LS1 4AP,carer_self,en\n');
  execFileSync(
    lib.BIN,
    ['invite', '--database-url', process.env.JOINEDUP_DATABASE_URL, '--survey', 'format_example', '--no-send', '--sample', file],
    { encoding: 'utf8' },
  );
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
];

// Forms sent empty, to check their error states: (page, submit button text).
const EMPTY_FORMS = [
  ['/analyst/margins', 'Upload and check'],
  ['/lead/surveys/integration_index/samples/new', 'Upload and check'],
  ['/data-entry', 'Find the questionnaire'],
];

lib.run('staff', async () => {
  addStaffUser();
  addPostalSample();
  const browser = await lib.launch();
  let violations = 0;
  let runs = 0;
  try {
    const context = await lib.axeContext(browser);
    const page = await context.newPage();
    await page.goto(lib.url('/sign-in'));
    await page.fill('#email', EMAIL);
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
    lib.assert(!page.url().includes('/sign-in'), `signing in failed: still on ${page.url()}`);

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
    await context.close();
  } finally {
    await browser.close();
  }
  console.log(`staff pages: ${runs} axe runs, ${violations} axe violations`);
  return violations === 0;
});
